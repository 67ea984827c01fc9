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
//   - testserver runs Lifeline with test-only control endpoints for the
//     client's and the browser's tests.
//
// No production package imports anything under testkit.
package testkit
