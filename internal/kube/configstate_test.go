package kube

import (
	"errors"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ironlb/ironlb/api/v1beta1"
)

func TestConfigurationStatus(t *testing.T) {
	bad := ConfigCondition(ConditionSpeakerConfig, errors.New(`IPAddressPool "p": spec.addresses[0]: invalid CIDR`))
	good := ConfigCondition(ConditionControllerConfig, nil)
	listFailed := metav1.Condition{Type: "other", Status: metav1.ConditionFalse, Reason: "ListFailed", Message: "apiserver down"}
	tests := []struct {
		name        string
		conds       []metav1.Condition
		wantResult  v1beta1.ConfigurationResult
		wantSummary string
	}{
		{"nothing reported yet", nil, v1beta1.ConfigurationResultUnknown, ""},
		{"loaded", []metav1.Condition{good}, v1beta1.ConfigurationResultValid, ""},
		{"a configuration error", []metav1.Condition{good, bad}, v1beta1.ConfigurationResultInvalid,
			`configuration error: IPAddressPool "p": spec.addresses[0]: invalid CIDR`},
		{"a failure that is not the configuration's", []metav1.Condition{listFailed}, v1beta1.ConfigurationResultValid, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			result, summary := ConfigurationStatus(tt.conds)
			if result != tt.wantResult || summary != tt.wantSummary {
				t.Errorf("= %s %q, want %s %q", result, summary, tt.wantResult, tt.wantSummary)
			}
		})
	}
}
