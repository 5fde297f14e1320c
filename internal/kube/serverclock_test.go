package kube

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// fakeLocal is a process clock the test moves by hand.
type fakeLocal struct{ now time.Time }

func (f *fakeLocal) Now() time.Time { return f.now }

func TestServerClockRunsOnTheAPIServersTime(t *testing.T) {
	local := &fakeLocal{now: time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)}
	cases := []struct {
		name string
		skew time.Duration // the apiserver's clock minus this node's
		trip time.Duration // how long the answer took, all of it before the apiserver answered
	}{
		{name: "same clock", skew: 0, trip: 2 * time.Millisecond},
		{name: "node a minute behind", skew: time.Minute, trip: 2 * time.Millisecond},
		{name: "node an hour ahead", skew: -time.Hour, trip: 2 * time.Millisecond},
		{name: "slow answer", skew: 30 * time.Second, trip: 800 * time.Millisecond},
		{name: "answer after a long queue", skew: -time.Minute, trip: 6 * time.Second},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// The apiserver stamps its answer as it writes it, at the end of
			// the trip.
			date := local.now.Add(tc.trip).Add(tc.skew).UTC().Format(http.TimeFormat)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Date", date)
			}))
			defer srv.Close()
			clock := NewServerClock(local.Now)
			if got := clock.Now(); !got.Equal(local.now) {
				t.Fatalf("before any answer Now() = %s, want this node's clock %s", got, local.now)
			}
			client := &http.Client{Transport: clock.Wrap(&steppingTransport{local: local, trip: tc.trip})}
			res, err := client.Get(srv.URL)
			if err != nil {
				t.Fatal(err)
			}
			_ = res.Body.Close()

			local.now = local.now.Add(10 * time.Second)
			want := local.now.Add(tc.skew)
			if d := clock.Now().Sub(want); d < -time.Second || d > time.Second {
				t.Errorf("10s after the answer Now() is %s off the apiserver's clock, want within a second (Date is whole seconds)", d)
			}
		})
	}
}

func TestServerClockKeepsItsTimeWithoutADate(t *testing.T) {
	local := &fakeLocal{now: time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)}
	clock := NewServerClock(local.Now)
	clock.observe(local.now.Add(time.Hour).Format(http.TimeFormat), local.now)
	clock.observe("not a date", local.now)
	if d := clock.Now().Sub(local.now.Add(time.Hour)); d < 0 || d > time.Second {
		t.Errorf("an answer without a readable Date moved the clock: %s off", d)
	}
}

// steppingTransport passes requests on and moves the process clock by the
// round trip, as the wire would.
type steppingTransport struct {
	local *fakeLocal
	trip  time.Duration
}

func (s *steppingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	res, err := http.DefaultTransport.RoundTrip(req)
	s.local.now = s.local.now.Add(s.trip)
	return res, err
}
