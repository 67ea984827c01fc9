# One command runs every test: `make test`.
# Go (race detector on, fuzz seed corpora included), the TypeScript client
# against the real Go server, and the browser test in headless Chromium.

GO ?= go
NPM ?= npm

.PHONY: test test-go test-client test-e2e bench load fuzz

test: test-go test-client test-e2e

test-go:
	$(GO) vet ./...
	$(GO) test -race -count=1 ./...
# The parked-stack tests again without -race, whose instrumentation
# changes every frame's size (they skip themselves under -race).
	$(GO) test -count=1 -run '^(TestParkedWebSocketStack|TestParkedSSEStackShrinks)$$' ./negotiate/
	cd bench/ratelimit && $(GO) vet ./...
	cd cmd/lifeline-load && $(GO) vet ./... && $(GO) test -race -count=1 ./...

test-client:
	cd client && $(NPM) ci --no-audit --no-fund && $(NPM) test && $(NPM) run check-bundle

test-e2e:
	cd e2e && $(NPM) ci --no-audit --no-fund && $(NPM) test

# Benchmarks: the buffer and the limiter, and the limiter against its peers.
bench:
	$(GO) test -run '^$$' -bench . -benchmem ./longpoll/ ./ratelimit/
	cd bench/ratelimit && $(GO) test -run '^$$' -bench . -benchmem ./...

# README's Performance table in one run: Lifeline beside a bare-Gin floor
# and centrifuge (streams), 10 000 held polls/streams for memory and
# fan-out, 1 000 streams taking 1 000-event bursts for throughput. The load
# tool is a module of its own, so that centrifuge stays out of Lifeline's.
load:
	cd cmd/lifeline-load && $(GO) run . -n 1000,10000 -events 1000 -burst-max-n 1000

# A short coverage-guided run of every fuzz target (FUZZTIME each).
FUZZTIME ?= 30s
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzParseCursor$$' -fuzztime $(FUZZTIME) ./longpoll/
	$(GO) test -run '^$$' -fuzz '^FuzzParseMessage$$' -fuzztime $(FUZZTIME) ./longpoll/
	$(GO) test -run '^$$' -fuzz '^FuzzBodyToken$$' -fuzztime $(FUZZTIME) ./longpoll/
	$(GO) test -run '^$$' -fuzz '^FuzzWebSocketFrame$$' -fuzztime $(FUZZTIME) ./negotiate/
	$(GO) test -run '^$$' -fuzz '^FuzzSSEFraming$$' -fuzztime $(FUZZTIME) ./negotiate/
	$(GO) test -run '^$$' -fuzz '^FuzzForwardedKey$$' -fuzztime $(FUZZTIME) ./ratelimit/
	$(GO) test -run '^$$' -fuzz '^FuzzFieldRoundTrip$$' -fuzztime $(FUZZTIME) ./ratelimit/
	$(GO) test -run '^$$' -fuzz '^FuzzFilter$$' -fuzztime $(FUZZTIME) ./llpg/
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeMember$$' -fuzztime $(FUZZTIME) ./llredis/
	$(GO) test -run '^$$' -fuzz '^FuzzDispatch$$' -fuzztime $(FUZZTIME) ./llredis/
