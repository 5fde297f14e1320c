//go:build e2e

package controllers

import (
	"sigs.k8s.io/controller-runtime/pkg/config"
)

// controllerConfigForTests lets several managers register controllers with
// the same names in one test process, one after the other.
func controllerConfigForTests() config.Controller {
	skip := true
	return config.Controller{SkipNameValidation: &skip}
}
