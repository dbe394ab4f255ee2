package exporter

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/linkmesh/linkmesh/coordinator/pathstate"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
)

// WriteText writes one scrape in the Prometheus text format (version 0.0.4):
// the collector's families, merged in name order with others (the gathered
// rest of the registry, sorted by name as a Gatherer returns them). The bytes
// are those promhttp writes for the same families in that format (the tests
// compare them), but the collector's samples go straight from the store to
// the writer: no client_golang metric, label pair or sort per sample, which
// at 10,000 paths is most of a scrape's time and garbage.
func (c *Collector) WriteText(w io.Writer, others []*dto.MetricFamily) error {
	sc := c.scrape()
	order := c.familyOrder(sc.set)
	bw := bufio.NewWriterSize(w, 64<<10)
	tw := &textWriter{w: bw}
	i := 0
	for _, m := range order {
		for ; i < len(others) && others[i].GetName() < metrics[m].name; i++ {
			if _, err := expfmt.MetricFamilyToText(bw, others[i]); err != nil {
				return fmt.Errorf("write %s: %w", others[i].GetName(), err)
			}
		}
		tw.family(sc, m)
		if tw.err != nil {
			return fmt.Errorf("write %s: %w", metrics[m].name, tw.err)
		}
	}
	for ; i < len(others); i++ {
		if _, err := expfmt.MetricFamilyToText(bw, others[i]); err != nil {
			return fmt.Errorf("write %s: %w", others[i].GetName(), err)
		}
	}
	return bw.Flush()
}

// familyOrder is the collector's metrics sorted by name, the histogram only
// when the settings ask for it.
func (c *Collector) familyOrder(set Settings) []metric {
	out := make([]metric, 0, numMetrics)
	for m := range numMetrics {
		if m != pathRTT || set.RTTHistogram {
			out = append(out, m)
		}
	}
	sort.Slice(out, func(i, j int) bool { return metrics[out[i]].name < metrics[out[j]].name })
	return out
}

// textWriter writes samples in the text format; the first error sticks.
type textWriter struct {
	w   *bufio.Writer
	num []byte
	err error
	// headerDone is false until the family's first sample: a family without
	// samples writes nothing, as the registry leaves it out.
	headerDone bool
}

// labelOrder is, per label list, the indexes of its labels sorted by name:
// the order the registry writes them in.
func labelOrder(labels []string) []int {
	idx := make([]int, len(labels))
	for i := range idx {
		idx[i] = i
	}
	sort.Slice(idx, func(a, b int) bool { return labels[idx[a]] < labels[idx[b]] })
	return idx
}

// family writes metric m's samples, or nothing when it has none.
func (tw *textWriter) family(sc *scrape, m metric) {
	d := &metrics[m]
	tw.headerDone = false
	order := labelOrder(d.labels)
	if m == pathRTT {
		sc.histograms(func(values []string, h histogram) {
			tw.header(d.name, d.help, "histogram")
			var cum uint64
			for i, ub := range pathstate.Buckets {
				cum += h.buckets[i]
				tw.sample(d.name, "_bucket", d.labels, order, values, "le", ub, float64(cum))
			}
			tw.sample(d.name, "_bucket", d.labels, order, values, "le", math.Inf(1), float64(h.count))
			tw.sample(d.name, "_sum", d.labels, order, values, "", 0, h.sum)
			tw.sample(d.name, "_count", d.labels, order, values, "", 0, float64(h.count))
		})
		return
	}
	sc.samples(m, func(values []string, v float64) {
		tw.header(d.name, d.help, typeName(d))
		tw.sample(d.name, "", d.labels, order, values, "", 0, v)
	})
}

// typeName is d's type as the TYPE line says it.
func typeName(d *metricDef) string {
	switch d.typ {
	case prometheus.CounterValue:
		return "counter"
	case prometheus.GaugeValue:
		return "gauge"
	}
	return "untyped"
}

// header writes the family's HELP and TYPE lines before its first sample.
func (tw *textWriter) header(name, help, typ string) {
	if tw.headerDone {
		return
	}
	tw.headerDone = true
	tw.str("# HELP ")
	tw.str(name)
	tw.w.WriteByte(' ')
	tw.escaped(help, false)
	tw.str("\n# TYPE ")
	tw.str(name)
	tw.w.WriteByte(' ')
	tw.str(typ)
	tw.w.WriteByte('\n')
}

// sample writes one line: name+suffix, the labels in name order (values in
// the order of labels, order their sorted indexes), then le when extra is
// set (always last, as the registry writes it), and the value.
func (tw *textWriter) sample(name, suffix string, labels []string, order []int, values []string, extra string, extraValue, v float64) {
	tw.str(name)
	tw.str(suffix)
	tw.w.WriteByte('{')
	for n, i := range order {
		if n > 0 {
			tw.w.WriteByte(',')
		}
		tw.str(labels[i])
		tw.str(`="`)
		tw.escaped(values[i], true)
		tw.w.WriteByte('"')
	}
	if extra != "" {
		tw.w.WriteByte(',')
		tw.str(extra)
		tw.str(`="`)
		tw.float(extraValue)
		tw.w.WriteByte('"')
	}
	tw.str("} ")
	tw.float(v)
	if err := tw.w.WriteByte('\n'); err != nil && tw.err == nil {
		tw.err = err
	}
}

func (tw *textWriter) str(s string) {
	if _, err := tw.w.WriteString(s); err != nil && tw.err == nil {
		tw.err = err
	}
}

// escaped writes s as the text format escapes it: \ and newline in HELP,
// also " in label values.
func (tw *textWriter) escaped(s string, quote bool) {
	if !strings.ContainsAny(s, "\\\n\"") {
		tw.str(s)
		return
	}
	for i := 0; i < len(s); i++ {
		switch b := s[i]; {
		case b == '\\':
			tw.str(`\\`)
		case b == '\n':
			tw.str(`\n`)
		case b == '"' && quote:
			tw.str(`\"`)
		default:
			tw.w.WriteByte(b)
		}
	}
}

// float writes f as expfmt does: 1, 0, -1, NaN, +Inf, -Inf, else the
// shortest 'g' form.
func (tw *textWriter) float(f float64) {
	switch {
	case f == 1:
		tw.w.WriteByte('1')
	case f == 0:
		tw.w.WriteByte('0')
	case f == -1:
		tw.str("-1")
	case math.IsNaN(f):
		tw.str("NaN")
	case math.IsInf(f, +1):
		tw.str("+Inf")
	case math.IsInf(f, -1):
		tw.str("-Inf")
	default:
		tw.num = strconv.AppendFloat(tw.num[:0], f, 'g', -1, 64)
		if _, err := tw.w.Write(tw.num); err != nil && tw.err == nil {
			tw.err = err
		}
	}
}
