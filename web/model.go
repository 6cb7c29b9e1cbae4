//go:build js && wasm

package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/hack-pad/safejs"
	"github.com/vugu/vugu"

	"github.com/t2web/t2web/internal/promise"
	"github.com/t2web/t2web/wasm/protocol"
	"github.com/t2web/t2web/web/store"
)

// Model is the model view: the pack picker, the download's progress, the engine, and
// what the browser stores. The loaded model and the download are Shared (the header
// shows them too).
type Model struct {
	*Shared
	ModelURL string       // the pack or model folder URL field
	Usage    *store.Usage // the site's storage use, nil before it is read
	Packs    []store.Pack // the packs cached for offline use
	Saved    []savedItem  // what the store holds
}

// Load asks the engine for the model at ModelURL.
func (c *Model) Load() {
	if c.engine == nil {
		return
	}
	c.beginLoad(c.ModelURL)
	c.local = nil
	c.send(protocol.Load{Type: protocol.TypeLoad, URL: c.ModelURL, Engine: c.Engine, Kernels: c.Kernels})
}

// LoadDefault loads the pack the site ships.
func (c *Model) LoadDefault() {
	c.ModelURL = defaultModel
	c.Load()
}

// PickFolder loads the folder chosen in the folder field as a pack (or checkpoint).
func (c *Model) PickFolder(event vugu.DOMEvent) {
	folder, files, err := pickedFolder(fromVugu(event.JSEventTarget()))
	if err != nil {
		c.fail(fmt.Errorf("reading the chosen folder: %w", err))
		return
	}
	c.loadLocal(folder, files)
}

// pickedFolder returns the files of a folder field (webkitdirectory) by path inside the
// folder, and the folder's name.
func pickedFolder(field safejs.Value) (folder string, files map[string]safejs.Value, err error) {
	list, err := field.Get("files")
	if err != nil {
		return "", nil, err
	}
	n, err := list.Length()
	if err != nil {
		return "", nil, err
	}
	files = map[string]safejs.Value{}
	for i := range n {
		f, err := list.Index(i)
		if err != nil {
			return "", nil, err
		}
		rel, err := getString(f, "webkitRelativePath")
		if err != nil {
			return "", nil, err
		}
		if rel == "" {
			if rel, err = getString(f, "name"); err != nil {
				return "", nil, err
			}
		}
		top, name, ok := strings.Cut(rel, "/")
		if !ok {
			top, name = "folder", rel
		}
		folder = top
		files[name] = f
	}
	return folder, files, nil
}

// loadLocal asks the engine for the folder the user chose or dropped, its files by
// path inside it.
func (c *Model) loadLocal(folder string, files map[string]safejs.Value) {
	if c.engine == nil || len(files) == 0 {
		return
	}
	if _, ok := files["pack.json"]; !ok {
		if _, ok := files["config.json"]; !ok {
			c.fail(fmt.Errorf("the folder %s has neither pack.json (a pack) nor config.json (a checkpoint)", folder))
			return
		}
	}
	c.beginLoad("local folder " + folder + "/")
	c.local = files
	req := protocol.Load{Type: protocol.TypeLoad, URL: folder + "/", Engine: c.Engine, Kernels: c.Kernels, Local: true}
	if err := c.engine.sendFiles(req, files); err != nil {
		c.fail(err)
	}
}

// dropFolder takes the folders of a drop: a pack to load. It reports whether there was
// one. It must run inside the drop's handler (the items are gone after it), and reads
// the folder in the background.
func (c *Model) dropFolder(ee vugu.EventEnv, dt safejs.Value) bool {
	dir, err := droppedDir(dt)
	if err != nil || dir.IsUndefined() {
		return false
	}
	name, _ := getString(dir, "name")
	c.Status = "reading the folder " + name
	go func() {
		files := map[string]safejs.Value{}
		err := readEntries(dir, "", files)
		ee.Lock()
		defer ee.UnlockRender()
		if err != nil {
			c.fail(fmt.Errorf("reading the dropped folder %s: %w", name, err))
			return
		}
		c.loadLocal(name, files)
	}()
	return true
}

// droppedDir returns the directory entry among a DataTransfer's items, undefined when
// there is none.
func droppedDir(dt safejs.Value) (safejs.Value, error) {
	none := safejs.Undefined()
	if dt.IsUndefined() || dt.IsNull() {
		return none, nil
	}
	items, err := dt.Get("items")
	if err != nil || items.IsUndefined() {
		return none, err
	}
	n, err := items.Length()
	if err != nil {
		return none, err
	}
	for i := range n {
		it, err := items.Index(i)
		if err != nil {
			return none, err
		}
		if f, err := it.Get("webkitGetAsEntry"); err != nil || f.Type() != safejs.TypeFunction {
			continue
		}
		e, err := it.Call("webkitGetAsEntry")
		if err != nil || e.IsNull() {
			continue
		}
		if isDir, _ := getBool(e, "isDirectory"); isDir {
			return e, nil
		}
	}
	return none, nil
}

// readEntries adds the files under the directory entry dir to files, by path under
// prefix. It awaits callbacks: call it from a goroutine.
func readEntries(dir safejs.Value, prefix string, files map[string]safejs.Value) error {
	reader, err := dir.Call("createReader")
	if err != nil {
		return err
	}
	for {
		batch, err := awaitCallback(reader, "readEntries")
		if err != nil {
			return err
		}
		n, err := batch.Length()
		if err != nil || n == 0 {
			return err
		}
		for i := range n {
			e, err := batch.Index(i)
			if err != nil {
				return err
			}
			name, err := getString(e, "name")
			if err != nil {
				return err
			}
			name = prefix + name
			if isDir, _ := getBool(e, "isDirectory"); isDir {
				if err := readEntries(e, name+"/", files); err != nil {
					return err
				}
				continue
			}
			f, err := awaitCallback(e, "file")
			if err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			files[name] = f
		}
	}
}

// awaitCallback calls v[method](onValue, onError), the callback form of the File and
// Directory Entries API, and waits for either. Call it from a goroutine.
func awaitCallback(v safejs.Value, method string) (safejs.Value, error) {
	var start safejs.Func
	start, err := safejs.FuncOf(func(_ safejs.Value, args []safejs.Value) any {
		defer start.Release()
		v.Call(method, args[0], args[1])
		return nil
	})
	if err != nil {
		return safejs.Value{}, err
	}
	p, err := safejs.MustGetGlobal("Promise").New(start.Value())
	if err != nil {
		return safejs.Value{}, err
	}
	return promise.Await(p)
}

// getBool returns v[name] as a bool.
func getBool(v safejs.Value, name string) (bool, error) {
	f, err := v.Get(name)
	if err != nil {
		return false, err
	}
	return f.Bool()
}

// progressValue is the progress bar's value in [0, 1], or nil (indeterminate).
func (c *Model) progressValue() any {
	if c.Progress.Total <= 0 {
		return nil
	}
	return float64(c.Progress.Loaded) / float64(c.Progress.Total)
}

// RemovePack deletes a cached pack (the model view's Remove).
func (c *Model) RemovePack(url string) {
	go func() {
		_, err := store.RemovePack(url)
		c.ee.Lock()
		if err != nil {
			c.StoreMsg = err.Error()
		} else {
			c.Status = "removed " + url + " from the cache: the next load downloads it again"
		}
		c.ee.UnlockRender()
		c.refreshStorage()
	}()
}

// watchCache refreshes the storage lists as the service worker stores pack files, and
// shows its storage errors (with what to remove) in the page.
func (c *Model) watchCache() {
	refresh := make(chan struct{}, 1)
	_, err := store.WatchCache(func(string, string, int64) {
		select {
		case refresh <- struct{}{}:
		default:
		}
	}, func(e *store.CacheError) {
		c.ee.Lock()
		c.StoreMsg = e.Text + " (Model view: cached packs and saved data, each with Remove.)"
		c.ee.UnlockRender()
		c.refreshStorage()
	})
	if err != nil {
		consoleLog("warn", "t2web: "+err.Error())
		return
	}
	go func() {
		for range refresh {
			time.Sleep(500 * time.Millisecond) // one refresh per burst of stored files
			c.refreshStorage()
		}
	}()
}

// usageText is the storage line: used of quota.
func (c *Model) usageText() string {
	if c.Usage == nil {
		return "Storage: not known yet"
	}
	s := "Storage used by this site: " + bytesText(c.Usage.Used)
	if c.Usage.Quota > 0 {
		s += fmt.Sprintf(" of %s allowed (%.1f %%)", bytesText(c.Usage.Quota), 100*float64(c.Usage.Used)/float64(c.Usage.Quota))
	}
	return s
}

// packText describes a cached pack.
func packText(p store.Pack) string {
	s := fmt.Sprintf("%s — %s in %d files, %d of %d shards", p.URL, bytesText(p.Bytes), p.Files, p.CachedShards, p.Shards)
	if p.Complete {
		s += ", loads offline"
	} else {
		s += ", incomplete"
	}
	return s
}

func savedText(s savedItem) string {
	return fmt.Sprintf("%s — %s", s.label(), bytesText(int64(s.Size)))
}

// gpuText describes WebGPU for the model view: the adapter and what the engine uses of
// it, or why it is not used.
func (c *Model) gpuText() string {
	i := c.Info
	a := i.Adapter
	switch {
	case a == nil && strings.HasPrefix(i.EngineReason, "no WebGPU"):
		return "WebGPU: this browser offers no adapter, so the CPU engine runs."
	case a == nil:
		return "WebGPU: not used (" + i.EngineReason + ")."
	case i.Engine == protocol.EngineGPU:
		return fmt.Sprintf("WebGPU: %s; storage bindings up to %s. Features used: core WebGPU compute only (f32 and int8 kernels; no shader-f16, no subgroups).", adapterName(a), bytesText(a.MaxStorageBinding))
	}
	s := "WebGPU: " + adapterName(a)
	if a.Fallback {
		s += ", a software fallback adapter"
	}
	return s + ", not used: " + strings.TrimPrefix(i.EngineReason, "the ") + "."
}

func viewClass(base string, on bool) string {
	if on {
		return base
	}
	return base + " off"
}

// refreshStorage reads the storage use, the cached packs and the saved values for the
// model view.
func (c *Model) refreshStorage() {
	u, uErr := store.Estimate()
	packs, pErr := store.Packs()
	var saved []savedItem
	if c.db != nil {
		for _, k := range store.Kinds {
			es, err := c.db.List(k)
			if err != nil {
				continue
			}
			for _, e := range es {
				saved = append(saved, savedItem{Kind: k, Key: e.Key, Size: e.Size})
			}
		}
	}
	c.ee.Lock()
	if uErr == nil {
		c.Usage = &u
	}
	if pErr == nil {
		c.Packs = packs
	}
	c.Saved = saved
	c.unlock(c.View == viewModel) // only the model view shows them
}

// RemoveSaved deletes a saved value (a Remove button of the model view).
func (c *Model) RemoveSaved(s savedItem) {
	db := c.db
	if db == nil {
		return
	}
	go func() {
		err := db.Delete(s.Kind, s.Key)
		c.ee.Lock()
		if err != nil {
			c.StoreMsg = err.Error()
		}
		if s.Kind == store.Experts && c.Info != nil && c.savedExperts != nil {
			if pack, name, _ := strings.Cut(s.Key, "|"); pack == c.Info.URL {
				c.savedExperts[name] = true // stays in the worker until a reload; not saved again
			}
		}
		c.ee.UnlockRender()
		c.refreshStorage()
	}()
}
