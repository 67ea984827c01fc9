// Package attack holds Lifeline's attack suite: tests that exhaust a real
// server over loopback TCP the way one abusive address would — request
// bodies trickled byte by byte, polls, streams and WebSockets held open by
// the hundred, floods of large messages, floods of new topics — and check
// that a well-behaved client on another address still negotiates, polls
// and sends within its normal latency while the attack runs, and that the
// server's memory stays within its configured budget.
//
// The package has no code outside its tests. Each test is bounded in time
// and in the number of connections, and talks to 127.0.0.1 (the
// well-behaved client) and 127.0.0.2 (the attacker) only; Linux routes the
// whole of 127.0.0.0/8 to the loopback interface. Where 127.0.0.2 cannot
// be used the tests skip, except under CI=true, where they fail.
package attack
