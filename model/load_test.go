package model_test

import (
	"io/fs"
	"os"
	"slices"
	"testing"

	"github.com/t2web/t2web/model"
)

// openRecorder is a file system that records the names opened in it.
type openRecorder struct {
	fs.FS
	opened *[]string
}

func (r openRecorder) Open(name string) (fs.File, error) {
	*r.opened = append(*r.opened, name)
	return r.FS.Open(name)
}

// TestTextFiles holds TextFiles to what LoadText reads, in its order: the page's worker
// starts exactly those downloads ahead of LoadText (webfs.FS.Prefetch), and a file it
// missed would be fetched after the others, one at a time. The demo pack has no
// generation_config.json, which LoadText tries all the same.
func TestTextFiles(t *testing.T) {
	var opened []string
	m, err := model.LoadText(openRecorder{FS: os.DirFS("../demo/pack"), opened: &opened}, &model.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if m.Tokenizer == nil {
		t.Fatal("LoadText read no tokenizer")
	}
	if want := model.TextFiles(); !slices.Equal(opened, want) {
		t.Errorf("LoadText opened %q, TextFiles says %q", opened, want)
	}
}
