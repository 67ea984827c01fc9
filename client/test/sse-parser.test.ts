import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SseParser, type SseMessage } from '../src/sse-parser.js';

function parse(chunks: string[]): { messages: SseMessage[]; parser: SseParser } {
  const messages: SseMessage[] = [];
  const parser = new SseParser((m) => messages.push(m));
  for (const c of chunks) parser.feed(c);
  return { messages, parser };
}

const stream = 'retry: 1000\nevent: open\ndata: {"a":1}\n\nid: e.1\ndata: {"id":"e.1"}\n\n: hb\n\n';

describe('SseParser', () => {
  it('parses events, ids, retry and comments', () => {
    const { messages, parser } = parse([stream]);
    assert.deepEqual(messages, [
      { event: 'open', data: '{"a":1}', id: '' },
      { event: 'message', data: '{"id":"e.1"}', id: 'e.1' },
    ]);
    assert.equal(parser.retry, 1000);
    assert.equal(parser.lastEventId, 'e.1');
  });

  it('says when part of a message waits for its end', () => {
    const { parser } = parse([]);
    assert.equal(parser.pending, false);
    for (const [chunk, pending] of [
      ['id: e.1\ndata: {"id"', true],
      [':"e.1"}\n', true],
      ['\n', false],
      ['event: probe\n', true],
      ['data: {}\n\n', false],
      [': hb\n\n', false],
    ] as const) {
      parser.feed(chunk);
      assert.equal(parser.pending, pending, JSON.stringify(chunk));
    }
  });

  it('accepts LF, CR and CRLF line ends, and mixes of them', () => {
    const want = parse([stream]).messages;
    for (const eol of ['\r', '\r\n']) assert.deepEqual(parse([stream.replaceAll('\n', eol)]).messages, want, JSON.stringify(eol));
    const mixed = 'retry: 1000\revent: open\r\ndata: {"a":1}\n\r\nid: e.1\rdata: {"id":"e.1"}\r\n\r: hb\n\n';
    assert.deepEqual(parse([mixed]).messages, want);
  });

  it('gives the same result however the stream is cut, including between CR and LF', () => {
    for (const eol of ['\n', '\r', '\r\n']) {
      const text = stream.replaceAll('\n', eol);
      const want = parse([text]).messages;
      for (let i = 0; i <= text.length; i++) {
        assert.deepEqual(parse([text.slice(0, i), text.slice(i)]).messages, want, `cut at ${i} with ${JSON.stringify(eol)}`);
      }
      assert.deepEqual(parse([...text]).messages, want, 'one character at a time');
    }
  });

  it('joins data lines with LF and strips one leading space only', () => {
    const { messages } = parse(['data:one\ndata:  two\ndata\ndata: \n\n']);
    assert.deepEqual(messages, [{ event: 'message', data: 'one\n two\n\n', id: '' }]);
  });

  it('dispatches nothing for a block without data, and resets the event type after each block', () => {
    const { messages } = parse(['event: open\n\ndata: x\n\nevent: reset\nid: 7\n\ndata: y\n\n']);
    assert.deepEqual(messages, [
      { event: 'message', data: 'x', id: '' },
      { event: 'message', data: 'y', id: '7' },
    ]);
  });

  it('drops a leading BOM, ignores ids with NULL, non-digit retry and unknown fields; an unfinished block is not dispatched', () => {
    const { messages, parser } = parse(['\uFEFFid: a\nretry: 1x\nfoo: bar\ndata: 1\n\nid: b\0c\ndata: 2\n\ndata: 3']);
    assert.deepEqual(messages, [
      { event: 'message', data: '1', id: 'a' },
      { event: 'message', data: '2', id: 'a' },
    ]);
    assert.equal(parser.retry, undefined);
  });
});
