// Package rawquery reads one parameter from a request's raw query string.
//
// Unlike gin's c.Query, which parses the whole query into a url.Values map
// and keeps it on the Context for the rest of the request, Get builds
// nothing: a held poll or an open stream keeps whatever its request
// allocated for as long as it is held, times the number of clients (the
// map was ~370 bytes of every WebSocket's live heap).
package rawquery
