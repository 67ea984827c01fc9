// Package testkit holds nothing itself; its subdirectories are the fixtures
// the tests run against, kept apart from the production code under internal/
// (internal/problem) so the layout says which is which:
//
//   - nginxtest starts a real nginx in front of a test server, in the modes
//     the proxy tests need;
//   - nginxproxy is nginxtest as a command, for the client's and the
//     browser's tests;
//   - pgtest gives a test a PostgreSQL database of its own on the
//     machine's server, or a whole cluster it may crash and restart;
//   - srcdigest recomputes the source digest a committed JavaScript build
//     names, for the tests that fail when one is stale;
//   - testserver runs Lifeline with test-only control endpoints for the
//     client's and the browser's tests.
//
// No production package imports anything under testkit.
package testkit
