package ops

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
	"time"

	"sigs.k8s.io/yaml"
)

// Output formats of -o.
const (
	OutputTable = ""
	OutputWide  = "wide"
	OutputJSON  = "json"
	OutputYAML  = "yaml"
)

// ValidOutput checks an -o value.
func ValidOutput(o string) error {
	switch o {
	case OutputTable, OutputWide, OutputJSON, OutputYAML:
		return nil
	}
	return fmt.Errorf("unknown output format %q (want wide, json or yaml)", o)
}

// PrintStatus writes st in format o. Times in the table are ages relative
// to now, as kubectl prints them.
func PrintStatus(w io.Writer, st Status, o string, now time.Time) error {
	switch o {
	case OutputJSON:
		b, err := json.MarshalIndent(st, "", "  ")
		if err != nil {
			return fmt.Errorf("encoding status: %w", err)
		}
		_, err = fmt.Fprintf(w, "%s\n", b)
		return err
	case OutputYAML:
		b, err := yaml.Marshal(st)
		if err != nil {
			return fmt.Errorf("encoding status: %w", err)
		}
		_, err = w.Write(b)
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	wide := o == OutputWide
	if wide {
		fmt.Fprintln(tw, "IMAGE\tSTATE\tUSERS\tRUNNING\tLAST SEEN\tNODES\tSIZE\tSOURCE\tREASON")
	} else {
		fmt.Fprintln(tw, "IMAGE\tSTATE\tUSERS\tLAST SEEN\tNODES\tSIZE\tSOURCE")
	}
	for _, r := range st.Images {
		nodes := strconv.Itoa(r.Holders) + "/" + strconv.Itoa(r.Eligible)
		if wide {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\t%s\t%s\t%s\t%s\n", r.Image, r.State, r.Users, r.Running, age(r.LastSeen, now), nodes, humanBytes(r.Size), r.Source, r.Reason)
		} else {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\n", r.Image, r.State, r.Users, age(r.LastSeen, now), nodes, humanBytes(r.Size), r.Source)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	s := st.Summary
	leader := "none"
	if s.Leader != "" {
		leader = s.Leader
		if !s.Running {
			leader += " (lease expired)"
		}
	}
	_, err := fmt.Fprintf(w, "\n%d images pulled, %s per node, %d/%d nodes eligible, last DaemonSet write %s, leader %s\n",
		s.Images, humanBytes(s.BytesPerNode), s.Eligible, s.Nodes, age(s.LastWrite, now), leader)
	for _, n := range s.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
	return err
}

func age(t *time.Time, now time.Time) string {
	if t == nil {
		return "-"
	}
	d := now.Sub(*t)
	switch {
	case d < 0:
		return "0s"
	case d < 2*time.Minute:
		return strconv.Itoa(int(d.Seconds())) + "s ago"
	case d < 2*time.Hour:
		return strconv.Itoa(int(d.Minutes())) + "m ago"
	case d < 48*time.Hour:
		return strconv.Itoa(int(d.Hours())) + "h ago"
	}
	return strconv.Itoa(int(d.Hours()/24)) + "d ago"
}

func humanBytes(n int64) string {
	if n <= 0 {
		return "-"
	}
	const unit = 1024
	if n < unit {
		return strconv.FormatInt(n, 10) + "B"
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f%ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
