//go:build js && wasm

package webfs

import (
	"errors"
	"fmt"

	"github.com/hack-pad/safejs"
)

// OpenFolder is how a worker opens the model folder a message names: url resolved
// against the worker's own location and fetched, or, with local, the folder the user
// chose or dropped, read from its files (File objects by path; "local folder …" in
// messages).
func OpenFolder(url string, local bool, files map[string]safejs.Value) (*FS, error) {
	loc, err := safejs.Global().Get("location")
	if err == nil {
		loc, err = loc.Get("href")
	}
	href, err2 := loc.String()
	if err = errors.Join(err, err2); err != nil {
		return nil, fmt.Errorf("reading the worker's location: %w", err)
	}
	get := Getter(Fetch)
	if local {
		if len(files) == 0 {
			return nil, fmt.Errorf("the local folder %s has no files", url)
		}
		href, get = LocalBase, Blobs(LocalBase, url, files)
	}
	fsys, err := New(href, url, get)
	if err != nil {
		return nil, err
	}
	if local {
		fsys.Display = "local folder " + fsys.Display
	}
	return fsys, nil
}
