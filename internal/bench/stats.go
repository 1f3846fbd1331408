package bench

import (
	"fmt"
	"math"
	"slices"
)

// Stat is one figure over the repeated runs of a measurement: the median
// (the mean of the two middle values for an even number of runs), the
// smallest and the largest value, and every run's value in run order.
type Stat struct {
	Median float64   `json:"median"`
	Min    float64   `json:"min"`
	Max    float64   `json:"max"`
	Runs   []float64 `json:"runs"`
}

// summarize returns the median and min–max of xs. Values that are not
// finite are left out (JSON cannot carry them); none left gives the zero
// Stat.
func summarize(xs []float64) Stat {
	var s []float64
	for _, x := range xs {
		if !math.IsNaN(x) && !math.IsInf(x, 0) {
			s = append(s, x)
		}
	}
	if len(s) == 0 {
		return Stat{}
	}
	runs := slices.Clone(s)
	slices.Sort(s)
	n := len(s)
	med := s[n/2]
	if n%2 == 0 {
		med = (s[n/2-1] + s[n/2]) / 2
	}
	return Stat{Median: med, Min: s[0], Max: s[n-1], Runs: runs}
}

// ratios returns a[i] / b[i] for the pairs of runs measured back to back;
// a pair whose baseline is not positive is left out.
func ratios(a, b []float64) []float64 {
	var out []float64
	for i := range min(len(a), len(b)) {
		if b[i] > 0 {
			out = append(out, a[i]/b[i])
		}
	}
	return out
}

// collect returns f of each element.
func collect[T any](xs []T, f func(T) float64) []float64 {
	out := make([]float64, len(xs))
	for i, x := range xs {
		out[i] = f(x)
	}
	return out
}

// fmtStat formats s as "median (min–max)" with f for each number; a single
// run is just its value.
func fmtStat(s Stat, f func(float64) string) string {
	if len(s.Runs) <= 1 {
		return f(s.Median)
	}
	return fmt.Sprintf("%s (%s–%s)", f(s.Median), f(s.Min), f(s.Max))
}
