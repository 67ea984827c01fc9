package main

import (
	"math"
	"slices"
	"time"
)

// percentile returns the p-th percentile (0 < p <= 100) of sorted by the
// nearest-rank method: the smallest value such that at least p% of the
// values are at or below it. It returns 0 for an empty slice.
func percentile(sorted []time.Duration, p float64) time.Duration {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(n)))
	rank = min(max(rank, 1), n)
	return sorted[rank-1]
}

// median returns the median of xs (the mean of the two middle values for an
// even count), or 0 for none. xs is not modified.
func median(xs []float64) float64 {
	n := len(xs)
	if n == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// latencySummary is the distribution of one round's fan-out latencies.
type latencySummary struct {
	P50, P99, Max time.Duration
}

// summarize sorts lat in place and returns its p50, p99 and max.
func summarize(lat []time.Duration) latencySummary {
	slices.Sort(lat)
	if len(lat) == 0 {
		return latencySummary{}
	}
	return latencySummary{P50: percentile(lat, 50), P99: percentile(lat, 99), Max: lat[len(lat)-1]}
}

// ms converts a duration to fractional milliseconds.
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
