package longpoll

// A held poll's subscription. With Memory it is one-shot: the append
// that signals it also unregisters it (see waiters), so that the polls a
// publish wakes have nothing to unregister as they end; and the poll reads
// the topics the subscription holds instead of looking each up by name
// (ReadSubscribed, which streams use too).
// Any other Buffer's subscription is an ordinary one.

// subscribePoll subscribes a held poll to topics.
func subscribePoll(buf Buffer, topics []string) (Subscription, error) {
	m, ok := buf.(*Memory)
	if !ok {
		return buf.Subscribe(topics)
	}
	s, err := m.subscribeOnce(topics)
	if err != nil {
		return nil, err // not a nil *subscription in an interface
	}
	return s, nil
}

// resubscribePoll registers a held poll's subscription again where the
// signal it took unregistered it, and reports whether it did: the poll
// then reads again before it waits. The poll calls it when a signal woke
// it for nothing; one that brings events answers without it.
func resubscribePoll(buf Buffer, sub Subscription) bool {
	if s, ok := sub.(*subscription); ok && s.oneShot {
		if m, ok := buf.(*Memory); ok {
			return m.resubscribe(s)
		}
	}
	return false
}
