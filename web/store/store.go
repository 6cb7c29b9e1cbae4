//go:build js && wasm

// Package store keeps t2web's data in the browser.
//
// The user's own data — chats, few-shot sets, saved experts — lives in IndexedDB: Open a
// DB, then Put, Get, List and Delete values (bytes; PutJSON and GetJSON for structs) by
// Kind and key. It stays across reloads and offline.
//
// The packs cached for offline use live in Cache Storage, written by the service worker
// (web/sw.js) as the engine downloads them; this package reads them through t2cache.js:
// Packs lists them with their sizes, RemovePack deletes one, Estimate says how much the
// site stores and may store, and WatchCache reports each stored file and each storage
// error (a full quota, with the pack and what to remove).
//
// Every function here waits for a JavaScript promise or IndexedDB request: call it from
// a goroutine, never synchronously inside a js.FuncOf callback such as a Vugu event
// handler (that deadlocks: the callback holds the event loop the answer needs).
//
// The IndexedDB calls are this package's own rather than github.com/hack-pad/go-indexeddb
// (v0.3.2, read for this): that library hands results back as syscall/js values, which the
// page keeps behind safejs; it panics inside goroutines of its own when a listener cannot
// be added or removed, which would end the page's wasm with no message; and it logs to the
// console where this package returns errors (a full quota is ErrQuota, named in the
// page). What it would replace here is one request and one transaction wait, a page of code.
package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/hack-pad/safejs"
	"github.com/t2web/t2web/internal/promise"
)

// Kind is a kind of user data: one IndexedDB object store.
type Kind string

// The kinds of user data.
const (
	Chats   Kind = "chats"   // conversations
	FewShot Kind = "fewshot" // few-shot example sets
	Experts Kind = "experts" // saved experts (.safetensors bytes)
)

// Kinds are every Kind, the object stores of a DB.
var Kinds = []Kind{Chats, FewShot, Experts}

// DefaultName is the IndexedDB database the page uses.
const DefaultName = "t2web"

// version is the IndexedDB schema version: one object store per Kind.
const version = 1

var (
	// ErrNotFound is Get's error for a key that is not stored.
	ErrNotFound = errors.New("store: not found")
	// ErrQuota is wrapped by the error of a write the browser refused for lack of
	// space (QuotaExceededError).
	ErrQuota = errors.New("store: storage quota exceeded")
)

// DB is an open IndexedDB database of user data.
type DB struct {
	name string
	db   safejs.Value // IDBDatabase
}

// Entry describes a stored value.
type Entry struct {
	Key     string
	Size    int       // bytes of the value
	Updated time.Time // when it was last Put
}

// Open opens (creating it when needed) the IndexedDB database name, e.g. DefaultName.
func Open(name string) (*DB, error) {
	idb, err := safejs.Global().Get("indexedDB")
	if err != nil || idb.IsUndefined() || idb.IsNull() {
		return nil, fmt.Errorf("store: open %s: this browser has no IndexedDB", name)
	}
	req, err := idb.Call("open", name, version)
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", name, err)
	}
	// The upgrade runs inside an IndexedDB event, before the open succeeds: what goes
	// wrong there is kept and returned once the open settles.
	var upgradeErr error
	upgrade, err := safejs.FuncOf(func(safejs.Value, []safejs.Value) any {
		upgradeErr = createStores(req)
		return nil
	})
	if err != nil {
		return nil, err
	}
	defer upgrade.Release()
	if err := req.Set("onupgradeneeded", upgrade.Value()); err != nil {
		return nil, err
	}
	db, err := awaitRequest(req)
	if err == nil && upgradeErr != nil {
		if _, cerr := db.Call("close"); cerr != nil {
			upgradeErr = errors.Join(upgradeErr, fmt.Errorf("closing it: %w", cerr))
		}
	}
	if err = errors.Join(err, upgradeErr); err != nil {
		return nil, fmt.Errorf("store: open %s: %w", name, err)
	}
	return &DB{name: name, db: db}, nil
}

// createStores creates the object store of every kind the database opened by req lacks.
func createStores(req safejs.Value) error {
	db, err := req.Get("result")
	if err != nil {
		return fmt.Errorf("upgrade: %w", err)
	}
	names, err := db.Get("objectStoreNames")
	if err != nil {
		return fmt.Errorf("upgrade: %w", err)
	}
	for _, k := range Kinds {
		has, err := names.Call("contains", string(k))
		if err != nil {
			return fmt.Errorf("upgrade: %w", err)
		}
		if truthy(has) {
			continue
		}
		if _, err := db.Call("createObjectStore", string(k), map[string]any{"keyPath": "key"}); err != nil {
			return fmt.Errorf("upgrade: creating the %s store: %w", k, err)
		}
	}
	return nil
}

// Close closes the database.
func (d *DB) Close() error {
	if _, err := d.db.Call("close"); err != nil {
		return fmt.Errorf("store: close %s: %w", d.name, err)
	}
	return nil
}

// Put stores value under key, replacing what was there.
func (d *DB) Put(kind Kind, key string, value []byte) error {
	arr, err := safejs.MustGetGlobal("Uint8Array").New(len(value))
	if err != nil {
		return err
	}
	if _, err := safejs.CopyBytesToJS(arr, value); err != nil {
		return err
	}
	rec := map[string]any{"key": key, "value": arr, "size": len(value), "updated": float64(time.Now().UnixMilli())}
	_, err = d.do(kind, "readwrite", "put", rec)
	if err != nil {
		return &PutError{Kind: kind, Key: key, Bytes: len(value), Err: err}
	}
	return nil
}

// PutError is Put's error: what could not be stored, and why (ErrQuota for a full quota).
type PutError struct {
	Kind  Kind
	Key   string
	Bytes int
	Err   error
}

func (e *PutError) Error() string {
	return fmt.Sprintf("store: put %s/%s (%d bytes): %v", e.Kind, e.Key, e.Bytes, e.Err)
}

func (e *PutError) Unwrap() error { return e.Err }

// Get returns the value stored under key, or ErrNotFound.
func (d *DB) Get(kind Kind, key string) ([]byte, error) {
	rec, err := d.do(kind, "readonly", "get", key)
	if err != nil {
		return nil, fmt.Errorf("store: get %s/%s: %w", kind, key, err)
	}
	if rec.IsUndefined() || rec.IsNull() {
		return nil, fmt.Errorf("store: get %s/%s: %w", kind, key, ErrNotFound)
	}
	v, err := rec.Get("value")
	if err != nil {
		return nil, err
	}
	n, err := v.Get("byteLength")
	if err != nil {
		return nil, err
	}
	size, err := n.Int()
	if err != nil {
		return nil, err
	}
	b := make([]byte, size)
	if _, err := safejs.CopyBytesToGo(b, v); err != nil {
		return nil, err
	}
	return b, nil
}

// List describes every value of kind, sorted by key.
func (d *DB) List(kind Kind) ([]Entry, error) {
	all, err := d.do(kind, "readonly", "getAll")
	if err != nil {
		return nil, fmt.Errorf("store: list %s: %w", kind, err)
	}
	n, err := all.Length()
	if err != nil {
		return nil, err
	}
	out := make([]Entry, 0, n)
	for i := range n {
		rec, err := all.Index(i)
		if err != nil {
			return nil, err
		}
		var e Entry
		if v, err := rec.Get("key"); err == nil {
			e.Key, _ = v.String()
		}
		if v, err := rec.Get("size"); err == nil {
			e.Size, _ = v.Int()
		}
		if v, err := rec.Get("updated"); err == nil {
			ms, _ := v.Float()
			e.Updated = time.UnixMilli(int64(ms))
		}
		out = append(out, e)
	}
	slices.SortFunc(out, func(a, b Entry) int { return strings.Compare(a.Key, b.Key) })
	return out, nil
}

// Delete removes the value under key; a missing key is no error.
func (d *DB) Delete(kind Kind, key string) error {
	if _, err := d.do(kind, "readwrite", "delete", key); err != nil {
		return fmt.Errorf("store: delete %s/%s: %w", kind, key, err)
	}
	return nil
}

// PutJSON stores v as JSON under key.
func (d *DB) PutJSON(kind Kind, key string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("store: put %s/%s: %w", kind, key, err)
	}
	return d.Put(kind, key, b)
}

// GetJSON reads the JSON under key into v.
func (d *DB) GetJSON(kind Kind, key string, v any) error {
	b, err := d.Get(kind, key)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("store: get %s/%s: %w", kind, key, err)
	}
	return nil
}

// do runs one request on kind's object store in a transaction of mode, and returns its
// result once the transaction has completed (a write is then durable).
func (d *DB) do(kind Kind, mode, method string, args ...any) (safejs.Value, error) {
	if !slices.Contains(Kinds, kind) {
		return safejs.Value{}, fmt.Errorf("unknown kind %q", kind)
	}
	tx, err := d.db.Call("transaction", string(kind), mode)
	if err != nil {
		return safejs.Value{}, err
	}
	os, err := tx.Call("objectStore", string(kind))
	if err != nil {
		return safejs.Value{}, err
	}
	req, err := os.Call(method, args...)
	if err != nil {
		return safejs.Value{}, err
	}
	done := make(chan error, 1)
	var onDone, onFail safejs.Func
	if onDone, err = safejs.FuncOf(func(safejs.Value, []safejs.Value) any {
		done <- nil
		return nil
	}); err != nil {
		return safejs.Value{}, err
	}
	defer onDone.Release()
	if onFail, err = safejs.FuncOf(func(safejs.Value, []safejs.Value) any {
		e, _ := tx.Get("error")
		done <- domError(e, "the transaction was aborted")
		return nil
	}); err != nil {
		return safejs.Value{}, err
	}
	defer onFail.Release()
	// complete and abort are a transaction's last events, one or the other: a failed
	// request's error event (which bubbles to the transaction) comes before its abort,
	// so listening to it as well would call onFail twice, the second time released.
	// A handler that could not be set would leave this waiting for ever.
	if err := errors.Join(tx.Set("oncomplete", onDone.Value()), tx.Set("onabort", onFail.Value())); err != nil {
		return safejs.Value{}, fmt.Errorf("listening to the transaction: %w", err)
	}
	if err := <-done; err != nil {
		return safejs.Value{}, err
	}
	return req.Get("result")
}

// awaitRequest waits for an IDBRequest and returns its result.
func awaitRequest(req safejs.Value) (safejs.Value, error) {
	type result struct {
		v   safejs.Value
		err error
	}
	ch := make(chan result, 1)
	ok, err := safejs.FuncOf(func(safejs.Value, []safejs.Value) any {
		r, err := req.Get("result")
		ch <- result{v: r, err: err}
		return nil
	})
	if err != nil {
		return safejs.Value{}, err
	}
	defer ok.Release()
	fail, err := safejs.FuncOf(func(safejs.Value, []safejs.Value) any {
		e, _ := req.Get("error")
		ch <- result{err: domError(e, "the request failed")}
		return nil
	})
	if err != nil {
		return safejs.Value{}, err
	}
	defer fail.Release()
	// A handler that could not be set would leave this waiting for ever.
	if err := errors.Join(req.Set("onsuccess", ok.Value()), req.Set("onerror", fail.Value())); err != nil {
		return safejs.Value{}, fmt.Errorf("listening to the request: %w", err)
	}
	r := <-ch
	return r.v, r.err
}

// domError turns a DOMException (or Error) into an error that names it; a
// QuotaExceededError wraps ErrQuota.
func domError(e safejs.Value, fallback string) error {
	if e.IsUndefined() || e.IsNull() {
		return errors.New(fallback)
	}
	return quota(promise.Reason(e))
}

// quota returns ErrQuota (with the browser's message) for a QuotaExceededError, and any
// other DOM error as "Name: message".
func quota(r *promise.Error) error {
	switch r.Name {
	case "QuotaExceededError":
		return fmt.Errorf("%w (%s)", ErrQuota, r.Message)
	case "":
		return r
	}
	return fmt.Errorf("%s: %s", r.Name, r.Message)
}

func arg0(args []safejs.Value) safejs.Value {
	if len(args) == 0 {
		return safejs.Undefined()
	}
	return args[0]
}

func truthy(v safejs.Value) bool {
	b, err := v.Bool()
	return err == nil && b
}
