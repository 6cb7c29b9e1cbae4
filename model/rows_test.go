package model_test

import (
	"testing"

	"github.com/t2web/t2web/model"
	"github.com/t2web/t2web/model/enginetest"
)

// TestSomeRowsAskLogits: the last layer runs on the rows that ask for logits only; each
// asking row keeps, bit for bit, the logits of the batch whose every row asks, and the
// skipped rows' keys and values are in the cache.
func TestSomeRowsAskLogits(t *testing.T) {
	enginetest.SomeRowsAskLogits(t, model.TinyEngine(t, 2), []int{5, 9, 13, 2, 77}, []int{40, 41, 3, 8}, -1, 0)
}
