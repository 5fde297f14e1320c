package config

import (
	"fmt"
	"slices"
	"strings"
)

// Ref names one configuration object.
type Ref struct {
	Kind string
	Name string
}

func (r Ref) String() string { return fmt.Sprintf("%s %q", r.Kind, r.Name) }

// Problem is one finding about the configuration: the object (and, for
// cross-object findings, the other objects involved), the field, and what
// is wrong.
type Problem struct {
	Object Ref
	Field  string
	Msg    string
	// Others are further objects the problem involves (the other pool of
	// an overlap, the other peer of a duplicate).
	Others []Ref
	// Transient marks a problem caused only by arrival order (a reference
	// to an object not created yet): the configuration cannot be used yet,
	// but the admission webhook lets the object in.
	Transient bool
}

func (p Problem) Error() string {
	s := p.Object.String() + ": "
	if p.Field != "" {
		s += p.Field + ": "
	}
	return s + p.Msg
}

// Involves reports whether the problem is about the given object.
func (p Problem) Involves(r Ref) bool {
	return p.Object == r || slices.Contains(p.Others, r)
}

// InvalidError lists every problem that makes a configuration invalid.
type InvalidError struct {
	Problems []Problem
}

func (e *InvalidError) Error() string {
	msgs := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		msgs[i] = p.Error()
	}
	return "invalid configuration: " + strings.Join(msgs, "; ")
}

// Involving returns the problems about the given object.
func (e *InvalidError) Involving(r Ref) []Problem {
	var out []Problem
	for _, p := range e.Problems {
		if p.Involves(r) {
			out = append(out, p)
		}
	}
	return out
}

// problems collects findings while parsing.
type problems struct {
	errs     []Problem
	warnings []Problem
}

func (ps *problems) add(obj Ref, field, format string, args ...any) {
	ps.errs = append(ps.errs, Problem{Object: obj, Field: field, Msg: fmt.Sprintf(format, args...)})
}

func (ps *problems) addWith(obj Ref, others []Ref, field, format string, args ...any) {
	ps.errs = append(ps.errs, Problem{Object: obj, Others: others, Field: field, Msg: fmt.Sprintf(format, args...)})
}

func (ps *problems) addTransient(obj Ref, field, format string, args ...any) {
	ps.errs = append(ps.errs, Problem{Object: obj, Field: field, Msg: fmt.Sprintf(format, args...), Transient: true})
}

func (ps *problems) warn(obj Ref, field, format string, args ...any) {
	ps.warnings = append(ps.warnings, Problem{Object: obj, Field: field, Msg: fmt.Sprintf(format, args...)})
}
