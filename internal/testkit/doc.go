// Package testkit holds nothing itself; its subdirectories are the fixtures
// the tests run against, kept apart from the production code under internal/
// (internal/problem) so the layout says which is which:
//
//   - nginxtest starts a real nginx in front of a test server, in the modes
//     the proxy tests need;
//   - nginxproxy is nginxtest as a command, for the client's and the
//     browser's tests;
//   - haproxytest starts a real HAProxy in HTTP mode: with its defaults,
//     with option http-no-delay, compressing event streams, or compressing
//     behind a hop that drops Cache-Control: no-transform;
//   - haproxyproxy is haproxytest as a command;
//   - pgtest gives a test a PostgreSQL database of its own on the
//     machine's server, or a whole cluster it may crash and restart;
//   - srcdigest recomputes the source digest a committed JavaScript build
//     names, for the tests that fail when one is stale;
//   - proxyproc holds what the nginx and HAProxy fixtures and commands
//     share: finding the binary, a free port, starting and stopping it;
//   - redistest gives a test the machine's Redis under a prefix of its own,
//     or a redis-server of its own that it may stop;
//   - switchtest is the delivery guarantee as a property: clients hop
//     between transports and instances while events are published;
//   - syncbuf is a log destination tests read while the server still
//     writes to it;
//   - testserver runs Lifeline with test-only control endpoints for the
//     client's and the browser's tests.
//
// No production package imports anything under testkit.
package testkit
