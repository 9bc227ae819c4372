// Module dashboard generates meshguard's Grafana dashboard
// (deploy/grafana/meshguard.json and the chart's copy) with Grafana's
// foundation SDK, which stays out of the webhook's go.mod.
module github.com/meshguard/meshguard/hack/dashboard

go 1.26.0

require github.com/grafana/grafana-foundation-sdk/go v0.0.22 // indirect
