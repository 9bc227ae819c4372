// Package chart holds the tests of the Helm chart in deploy/charts/meshguard;
// it has no code of its own.
package chart
