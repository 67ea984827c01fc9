package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
)

// pollOnce holds one poll from s's cursor and returns its first event that
// is not presence. It is safe to call off the test goroutine.
func pollOnce(h *harness, s *session) (event, error) {
	cursor := s.Cursor
	for range 3 {
		req, err := http.NewRequest(http.MethodGet, h.url+rtBase+"/poll?"+url.Values{"cursor": {cursor}}.Encode(), nil)
		if err != nil {
			return event{}, err
		}
		req.Header = s.header()
		res, err := h.client.Do(req)
		if err != nil {
			return event{}, err
		}
		body, err := io.ReadAll(res.Body)
		res.Body.Close()
		if err != nil {
			return event{}, err
		}
		if res.StatusCode != http.StatusOK {
			return event{}, fmt.Errorf("poll: %d %s", res.StatusCode, body)
		}
		var b struct {
			Events []event `json:"events"`
			Cursor string  `json:"cursor"`
		}
		if err := json.Unmarshal(body, &b); err != nil {
			return event{}, err
		}
		for _, e := range b.Events {
			if e.Type != "presence" {
				return e, nil
			}
		}
		cursor = b.Cursor
	}
	return event{}, errors.New("no event")
}
