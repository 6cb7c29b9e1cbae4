//go:build js && wasm

package main

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/vugu/vugu"

	"github.com/t2web/t2web/wasm/protocol"
	"github.com/t2web/t2web/web/store"
)

// The user's data persists in IndexedDB (package store) across reloads:
//
//	chats/current    the conversation and the chat's strategy (savedChat)
//	fewshot/current  the few-shot rows and the task's name (savedFewShot)
//	experts/PACK|NAME  each adapted or imported expert of the pack PACK (Loaded.URL), as
//	                 its .safetensors bytes; they go back to the worker when PACK loads
//
// Every store call waits for IndexedDB, so it runs on the saver's goroutine or one of
// its own, never in an event handler. Changes mark a kind dirty (under the event
// environment's lock); the saver writes it a moment later, once per burst of changes.
// The root keeps the store: it restores and saves the chat's and the few-shot view's
// state, which mark their kind changed with Shared.persist.

// chatKey and fewShotKey are the keys of the current conversation and few-shot set.
const (
	chatKey    = "current"
	fewShotKey = "current"
)

// saveDelay is how long the saver waits after a change of the few-shot rows before it
// writes, so that typing into the table writes once.
const saveDelay = 300 * time.Millisecond

// savedChat is what chats/current holds.
type savedChat struct {
	Turns    []turn `json:"turns"`
	Strategy string `json:"strategy"`
}

// savedFewShot is what fewshot/current holds.
type savedFewShot struct {
	TaskName string       `json:"taskName"`
	Rows     []exampleRow `json:"rows"`
}

// persistState is the page's side of the store.
type persistState struct {
	db     *store.DB
	ee     vugu.EventEnv
	opened chan struct{} // closed once db is open, or failed to
	dirty  map[store.Kind]bool
	urgent bool // a dirty kind is to be written without waiting
	wake   chan struct{}
	// savedExperts are the experts stored (or being stored) for the loaded pack.
	savedExperts map[string]bool

	StoreMsg   string // a storage problem, with what to remove; "" when none
	StoreState string // "opening", then "open" (saved data restored) or "failed"
}

// savedItem is one stored value, for the model view's list.
type savedItem struct {
	Kind store.Kind
	Key  string
	Size int
}

// label names a stored value for people: "expert task (of models/t2/)".
func (s savedItem) label() string {
	switch s.Kind {
	case store.Chats:
		return "the conversation"
	case store.FewShot:
		return "the few-shot rows"
	case store.Experts:
		pack, name, _ := strings.Cut(s.Key, "|")
		return fmt.Sprintf("expert %s (of %s)", name, pack)
	}
	return string(s.Kind) + "/" + s.Key
}

// startStore opens the database in the background, restores the conversation and the
// few-shot rows, and starts the saver. The caller holds the event environment's lock.
func (c *Root) startStore(ee vugu.EventEnv) {
	c.ee = ee
	c.opened = make(chan struct{})
	c.dirty = map[store.Kind]bool{}
	c.wake = make(chan struct{}, 1)
	c.StoreState = "opening"
	go func() {
		db, err := store.Open(store.DefaultName)
		var chat savedChat
		var few savedFewShot
		var chatErr, fewErr error
		if err == nil {
			chatErr = db.GetJSON(store.Chats, chatKey, &chat)
			fewErr = db.GetJSON(store.FewShot, fewShotKey, &few)
		}
		ee.Lock()
		c.db = db
		c.StoreState = "open"
		switch {
		case err != nil:
			c.StoreState = "failed"
			c.StoreMsg = fmt.Sprintf("Nothing you enter is kept after a reload: %v", err)
		default:
			if chatErr == nil && len(c.chat.Turns) == 0 {
				c.chat.Turns = chat.Turns
				c.savedStrategy = chat.Strategy
				c.restoreStrategy()
			}
			if fewErr == nil && len(c.fewShot.Rows) == 0 {
				c.fewShot.Rows = few.Rows
				if few.TaskName != "" {
					c.fewShot.TaskName = few.TaskName
				}
			}
			for _, e := range []error{chatErr, fewErr} {
				if e != nil && !errors.Is(e, store.ErrNotFound) {
					c.StoreMsg = fmt.Sprintf("Could not read what was saved: %v", e)
				}
			}
		}
		close(c.opened)
		ee.UnlockRender()
		c.model.refreshStorage()
		c.saver()
	}()
}

// saver writes the changed kinds, for ever.
func (c *Root) saver() {
	for range c.wake {
		c.ee.Lock()
		urgent := c.urgent
		c.ee.UnlockOnly()
		if !urgent {
			time.Sleep(saveDelay)
		}
		c.ee.Lock()
		c.urgent = false
		var chat *savedChat
		var few *savedFewShot
		if c.dirty[store.Chats] {
			chat = &savedChat{Turns: slices.Clone(c.chat.Turns), Strategy: c.Strategy}
			if c.chat.asking && len(chat.Turns) > 0 {
				chat.Turns = chat.Turns[:len(chat.Turns)-1] // the answer being written is saved when done
			}
		}
		if c.dirty[store.FewShot] {
			few = &savedFewShot{TaskName: c.fewShot.TaskName, Rows: slices.Clone(c.fewShot.Rows)}
		}
		clear(c.dirty)
		db := c.db
		c.ee.UnlockOnly()
		if db == nil {
			continue
		}
		var err error
		if chat != nil {
			err = errors.Join(err, db.PutJSON(store.Chats, chatKey, chat))
		}
		if few != nil {
			err = errors.Join(err, db.PutJSON(store.FewShot, fewShotKey, few))
		}
		c.stored(err)
	}
}

// stored shows a failed write (with what to remove when the quota is full) and
// refreshes the model view's storage lists.
func (c *Root) stored(err error) {
	msg := ""
	if err != nil {
		msg = c.storeErrorText(err)
	}
	c.ee.Lock()
	was := c.StoreMsg
	if err != nil {
		c.StoreMsg = msg
	} else if strings.HasPrefix(c.StoreMsg, "Storage is full") || strings.HasPrefix(c.StoreMsg, "Could not save") {
		c.StoreMsg = ""
	}
	c.unlock(c.StoreMsg != was)
	c.model.refreshStorage()
}

// storeErrorText says what could not be saved, and for a full quota what takes the
// room: the largest saved values and cached packs, to remove in the model view. It
// reads the store: call it outside the lock.
func (c *Root) storeErrorText(err error) string {
	if !errors.Is(err, store.ErrQuota) {
		return fmt.Sprintf("Could not save in this browser: %v", err)
	}
	type big struct {
		what  string
		bytes int64
	}
	var bigs []big
	if packs, err := store.Packs(); err == nil {
		for _, p := range packs {
			bigs = append(bigs, big{"the cached pack " + p.URL, p.Bytes})
		}
	}
	if c.db != nil {
		for _, k := range store.Kinds {
			es, _ := c.db.List(k)
			for _, e := range es {
				bigs = append(bigs, big{savedItem{Kind: k, Key: e.Key}.label(), int64(e.Size)})
			}
		}
	}
	slices.SortFunc(bigs, func(a, b big) int { return int(b.bytes - a.bytes) })
	var parts []string
	for _, b := range bigs[:min(len(bigs), 4)] {
		parts = append(parts, fmt.Sprintf("%s, %s", b.what, bytesText(b.bytes)))
	}
	what := "other sites' data in the browser's settings"
	if len(parts) > 0 {
		what = strings.Join(parts, "; ") + " (Model view: Remove)"
	}
	refused, it := "what you entered", "it stays"
	if pes := putErrors(err); len(pes) > 0 {
		names := make([]string, len(pes))
		for i, pe := range pes {
			names[i] = fmt.Sprintf("%s (%s)", savedItem{Kind: pe.Kind, Key: pe.Key}.label(), bytesText(int64(pe.Bytes)))
		}
		refused = strings.Join(names, " and ")
		if len(pes) > 1 {
			it = "they stay"
		}
	}
	return fmt.Sprintf("Storage is full: %s could not be saved in this browser; %s on this page. Free room by removing %s, then try again.", refused, it, what)
}

// putErrors is every write refused in err, which may join several (the saver writes the
// conversation and the few-shot rows together).
func putErrors(err error) []*store.PutError {
	switch e := err.(type) {
	case nil:
		return nil
	case *store.PutError:
		return []*store.PutError{e}
	case interface{ Unwrap() []error }:
		var out []*store.PutError
		for _, x := range e.Unwrap() {
			out = append(out, putErrors(x)...)
		}
		return out
	}
	return putErrors(errors.Unwrap(err))
}

// restoreExperts gives the worker the experts saved for the pack just loaded. The
// caller holds the lock.
func (c *Root) restoreExperts() {
	c.savedExperts = map[string]bool{}
	pack := c.Info.URL
	if c.opened == nil {
		return
	}
	go func() {
		<-c.opened
		if c.db == nil {
			return
		}
		es, err := c.db.List(store.Experts)
		type saved struct {
			name string
			data []byte
		}
		var found []saved
		for _, e := range es {
			p, name, ok := strings.Cut(e.Key, "|")
			if !ok || p != pack {
				continue
			}
			data, gerr := c.db.Get(store.Experts, e.Key)
			if gerr != nil {
				err = errors.Join(err, gerr)
				continue
			}
			found = append(found, saved{name, data})
		}
		c.ee.Lock()
		defer c.ee.UnlockRender()
		if err != nil {
			c.StoreMsg = fmt.Sprintf("Could not read the saved experts: %v", err)
		}
		if c.Info == nil || c.Info.URL != pack {
			return // another model loaded meanwhile
		}
		for _, s := range found {
			c.savedExperts[s.name] = true
			c.send(protocol.ImportExpert{Type: protocol.TypeImportExpert, Name: s.name, File: s.name + ".safetensors (saved)", Data: s.data})
		}
		if len(found) > 0 {
			c.Status = fmt.Sprintf("restored %d saved experts", len(found))
		}
	}()
}

// saveExperts asks the worker for every adapted or imported expert not saved yet; they
// arrive as ExpertFile with Save set. The caller holds the lock.
func (c *Root) saveExperts() {
	if c.savedExperts == nil {
		return
	}
	for _, x := range c.Experts {
		if x.Source == "pack" || c.savedExperts[x.Name] {
			continue
		}
		c.savedExperts[x.Name] = true
		c.send(protocol.ExportExpert{Type: protocol.TypeExportExpert, Name: x.Name, Save: true})
	}
}

// saveExpertFile stores an exported expert for the loaded pack. The caller holds the lock.
func (c *Root) saveExpertFile(m *protocol.ExpertFile) {
	if c.Info == nil || c.db == nil {
		return
	}
	db, key := c.db, c.Info.URL+"|"+m.Name
	go func() { c.stored(db.Put(store.Experts, key, m.Data)) }()
}
