//go:build js && wasm

package store

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/hack-pad/safejs"
	"github.com/t2web/t2web/internal/promise"
)

// Usage is what the site stores in the browser and may store, in bytes
// (navigator.storage.estimate): packs, the app shell and user data together.
type Usage struct {
	Used  int64 `json:"usage"`
	Quota int64 `json:"quota"`
}

// Pack is a pack cached for offline use.
type Pack struct {
	URL          string `json:"url"`          // the pack's folder, absolute, ending in "/"
	Bytes        int64  `json:"bytes"`        // stored, all files
	Files        int    `json:"files"`        // files stored
	Shards       int    `json:"shards"`       // shards that pack.json lists
	CachedShards int    `json:"cachedShards"` // of those, stored with pack.json's sha256
	Complete     bool   `json:"complete"`     // every shard stored: the pack loads offline
}

// CacheError is a pack file that could not be stored for offline use.
type CacheError struct {
	Name    string `json:"name"`    // the DOMException's name, e.g. "QuotaExceededError"
	Message string `json:"message"` // the browser's message
	Pack    string `json:"pack"`    // the pack's folder URL
	File    string `json:"file"`    // the file, relative to Pack
	Bytes   int64  `json:"bytes"`   // the pack's size (its shards)
	Packs   []Pack `json:"packs"`   // the other cached packs (URL and Bytes), to remove
	Text    string `json:"text"`    // a message for the page: what failed, what to remove
}

func (e *CacheError) Error() string { return e.Text }

// Quota reports whether the storage quota was exceeded.
func (e *CacheError) Quota() bool { return e.Name == "QuotaExceededError" }

// Estimate returns the site's storage use and quota.
func Estimate() (Usage, error) {
	var u Usage
	return u, callJSON("estimate", &u)
}

// Packs lists the cached packs.
func Packs() ([]Pack, error) {
	var ps []Pack
	return ps, callJSON("packs", &ps)
}

// RemovePack deletes the pack at url (relative to the page, e.g. "models/default/", or
// absolute) from the cache, and reports whether it was there. The next load downloads
// it again.
func RemovePack(url string) (bool, error) {
	var removed bool
	return removed, callJSON("remove", &removed, url)
}

// CacheErrors returns the storage errors reported since the page loaded, oldest first.
func CacheErrors() ([]*CacheError, error) {
	t, err := t2cache()
	if err != nil {
		return nil, err
	}
	v, err := t.Get("errors")
	if err != nil {
		return nil, err
	}
	var errs []*CacheError
	return errs, fromJS(v, &errs)
}

// WatchCache calls stored for every file the service worker stores, and failed for
// every file it could not store; either may be nil. While failed is set, t2cache.js
// shows no alert of its own: the page must show CacheError.Text. They run on their own
// goroutines. stop ends the watch.
func WatchCache(stored func(pack, file string, bytes int64), failed func(*CacheError)) (stop func(), err error) {
	t, err := t2cache()
	if err != nil {
		return nil, err
	}
	var funcs []safejs.Func
	set := func(prop string, f func(v safejs.Value)) error {
		fn, err := safejs.FuncOf(func(_ safejs.Value, args []safejs.Value) any {
			f(arg0(args))
			return nil
		})
		if err != nil {
			return err
		}
		funcs = append(funcs, fn)
		return t.Set(prop, fn.Value())
	}
	stop = func() {
		// Released functions that t2cache.js could still call would kill the page: if
		// they cannot be unhooked, they stay alive (a small leak) instead.
		if errors.Join(t.Set("onchange", nil), t.Set("onerror", nil)) != nil {
			return
		}
		for _, fn := range funcs {
			fn.Release()
		}
	}
	if stored != nil {
		if err := set("onchange", func(v safejs.Value) {
			var e struct {
				Pack, File string
				Bytes      int64
			}
			if fromJS(v, &e) == nil {
				go stored(e.Pack, e.File, e.Bytes)
			}
		}); err != nil {
			stop()
			return nil, err
		}
	}
	if failed != nil {
		if err := set("onerror", func(v safejs.Value) {
			e := new(CacheError)
			if fromJS(v, e) == nil {
				go failed(e)
			}
		}); err != nil {
			stop()
			return nil, err
		}
	}
	return stop, nil
}

// t2cache is t2cache.js's object.
func t2cache() (safejs.Value, error) {
	t, err := safejs.Global().Get("t2cache")
	if err != nil || t.IsUndefined() || t.IsNull() {
		return safejs.Value{}, errors.New("store: t2cache.js is not loaded (index.html loads it)")
	}
	return t, nil
}

// callJSON calls t2cache[method](args...), awaits its promise and decodes the result
// into dst.
func callJSON(method string, dst any, args ...any) error {
	t, err := t2cache()
	if err != nil {
		return err
	}
	p, err := t.Call(method, args...)
	if err != nil {
		return fmt.Errorf("store: t2cache.%s: %w", method, err)
	}
	v, err := promise.Await(p)
	if r := (*promise.Error)(nil); errors.As(err, &r) {
		err = quota(r)
	}
	if err != nil {
		return fmt.Errorf("store: t2cache.%s: %w", method, err)
	}
	return fromJS(v, dst)
}

// fromJS decodes a JavaScript value into dst through JSON.
func fromJS(v safejs.Value, dst any) error {
	s, err := safejs.MustGetGlobal("JSON").Call("stringify", v)
	if err != nil {
		return err
	}
	text, err := s.String()
	if err != nil {
		return err
	}
	return json.Unmarshal([]byte(text), dst)
}
