package longpoll

// A TopicCounter is a Buffer that can tell which topics it does not hold
// yet. Buffers implement it optionally; when the Server's Buffer does, the
// topics a client's sends would create count against the sending session's
// Config.TopicLimit, so that one session cannot fill the topic table.
// Memory implements it; a shared buffer can answer from its own index of
// topics. The answer may be stale by the time of the append: the limit is
// a bound, not an exact count.
type TopicCounter interface {
	// NewTopics returns how many of topics the buffer holds no state for,
	// so that appending or subscribing to them would create them.
	NewTopics(topics ...string) int
}

var _ TopicCounter = (*Memory)(nil)

// allowNewTopic charges a send to a topic the buffer does not hold yet to
// the session's topic-creation limit.
func (s *Server) allowNewTopic(sess *Session, topic string) error {
	tc, ok := s.buf.(TopicCounter)
	if !ok || s.limits.topics == nil || tc.NewTopics(topic) == 0 {
		return nil
	}
	return s.allow(s.limits.topics, PolicyTopics, sess, s.cfg.Now(), nil)
}
