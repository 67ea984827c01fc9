// Package buffertest is the conformance suite of longpoll.Buffer: the
// guarantees every transport relies on, checked the same way against every
// implementation. Run it from an implementation's tests:
//
//	func TestConformance(t *testing.T) {
//		buffertest.Run(t, func(t *testing.T, o buffertest.Options) buffertest.Subject {
//			...
//		})
//	}
//
// It is imported by tests only.
package buffertest
