package watch

import (
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
)

func builderPredicates(ps ...predicate.Predicate) []builder.ForOption {
	return []builder.ForOption{builder.WithPredicates(ps...)}
}
