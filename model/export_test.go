package model

import "testing"

// TinyEngine is tinyEngine on tinyConfig, for the tests outside the package.
func TinyEngine(t *testing.T, seqs int) *CPU { return tinyEngine(t, tinyConfig, seqs) }
