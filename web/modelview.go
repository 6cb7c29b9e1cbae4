//go:build js && wasm

package main

import (
	"fmt"
	"strings"
	"syscall/js"
	"time"

	"github.com/hack-pad/safejs"
	"github.com/vugu/vugu"

	"github.com/t2web/t2web/wasm/protocol"
	"github.com/t2web/t2web/web/store"
)

// viewModel is the model view: the pack picker, the download's progress, the engine, and
// what the browser stores.
const viewModel = "model"

// modelState is the model view's state.
type modelState struct {
	Usage *store.Usage // the site's storage use, nil before it is read
	Packs []store.Pack // the packs cached for offline use

	// the running download's speed: when the load started and the bytes of the files
	// finished before the current one
	loadStart time.Time
	doneBytes int64
	lastFile  string
	lastBytes int64
}

// LoadDefault loads the pack the site ships.
func (c *Root) LoadDefault() {
	c.ModelURL = defaultModel
	c.Load()
}

// PickFolder loads the folder chosen in the folder field as a pack (or checkpoint).
func (c *Root) PickFolder(event vugu.DOMEvent) {
	list := js.Value(event.JSEventTarget()).Get("files")
	files := map[string]safejs.Value{}
	folder := ""
	for i := range list.Length() {
		f := list.Index(i)
		rel := f.Get("webkitRelativePath").String()
		if rel == "" {
			rel = f.Get("name").String()
		}
		top, name, ok := strings.Cut(rel, "/")
		if !ok {
			top, name = "folder", rel
		}
		folder = top
		files[name] = safejs.Safe(f)
	}
	c.loadLocal(folder, files)
}

// loadLocal asks the engine for the folder the user chose or dropped, its files by
// path inside it.
func (c *Root) loadLocal(folder string, files map[string]safejs.Value) {
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
	if err := protocol.PostFiles(c.engine.worker, req, files); err != nil {
		c.fail(err)
	}
}

// dropFolder takes the folders of a drop: a pack to load. It reports whether there was
// one. It must run inside the drop's handler (the items are gone after it), and reads
// the folder in the background.
func (c *Root) dropFolder(ee vugu.EventEnv, dt js.Value) bool {
	if dt.IsUndefined() || dt.IsNull() {
		return false
	}
	items := dt.Get("items")
	if items.IsUndefined() {
		return false
	}
	var dir js.Value
	for i := range items.Length() {
		it := items.Index(i)
		if it.Get("webkitGetAsEntry").Type() != js.TypeFunction {
			continue
		}
		if e := it.Call("webkitGetAsEntry"); !e.IsNull() && e.Get("isDirectory").Bool() {
			dir = e
			break
		}
	}
	if dir.IsUndefined() {
		return false
	}
	c.Status = "reading the folder " + dir.Get("name").String()
	go func() {
		files := map[string]safejs.Value{}
		err := readEntries(dir, "", files)
		ee.Lock()
		defer ee.UnlockRender()
		if err != nil {
			c.fail(fmt.Errorf("reading the dropped folder %s: %w", dir.Get("name").String(), err))
			return
		}
		c.loadLocal(dir.Get("name").String(), files)
	}()
	return true
}

// readEntries adds the files under the directory entry dir to files, by path under
// prefix. It awaits callbacks: call it from a goroutine.
func readEntries(dir js.Value, prefix string, files map[string]safejs.Value) error {
	reader := dir.Call("createReader")
	for {
		batch, err := await(callbackPromise(reader, "readEntries"))
		if err != nil {
			return err
		}
		if batch.Length() == 0 {
			return nil
		}
		for i := range batch.Length() {
			e := batch.Index(i)
			name := prefix + e.Get("name").String()
			if e.Get("isDirectory").Bool() {
				if err := readEntries(e, name+"/", files); err != nil {
					return err
				}
				continue
			}
			f, err := await(callbackPromise(e, "file"))
			if err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			files[name] = safejs.Safe(f)
		}
	}
}

// callbackPromise calls v[method](onValue, onError) inside a Promise and returns it.
func callbackPromise(v js.Value, method string) js.Value {
	var start js.Func
	start = js.FuncOf(func(_ js.Value, args []js.Value) any {
		defer start.Release()
		v.Call(method, args[0], args[1])
		return nil
	})
	return js.Global().Get("Promise").New(start)
}

// beginLoad resets the page for a model load of what.
func (c *Root) beginLoad(what string) {
	c.State, c.Err = stateLoading, ""
	c.Progress = protocol.Progress{}
	c.loadStart, c.doneBytes, c.lastFile, c.lastBytes = time.Now(), 0, "", 0
	c.Experts, c.Adapted, c.Steps = nil, nil, nil
	c.Strategy = "" // the default, T², once the experts arrive (defaultStrategy)
	c.savedExperts = nil
	c.Status = "loading " + what
}

// progress records a Progress message: the bytes of the files finished before.
func (c *Root) progress(m *protocol.Progress) {
	if m.File != c.lastFile {
		c.doneBytes += c.lastBytes
		c.lastFile = m.File
	}
	c.lastBytes = m.Loaded
	c.State, c.Status = stateLoading, "downloading "+m.File
}

// progressText describes the download in progress: file, shard k/n, bytes, percent and
// speed.
func (c *Root) progressText() string {
	p := c.Progress
	if p.File == "" {
		return "starting…"
	}
	s := p.File
	if p.Shard > 0 {
		s = fmt.Sprintf("shard %d of %d (%s)", p.Shard, p.Shards, p.File)
	}
	if p.Total <= 0 {
		s += ": " + bytesText(p.Loaded)
	} else {
		s += fmt.Sprintf(": %s of %s (%.0f %%)", bytesText(p.Loaded), bytesText(p.Total), 100*float64(p.Loaded)/float64(p.Total))
	}
	if d := time.Since(c.loadStart).Seconds(); d > 0.2 && !c.loadStart.IsZero() {
		s += fmt.Sprintf(" · %s/s", bytesText(int64(float64(c.doneBytes+p.Loaded)/d)))
	}
	return s
}

// RemovePack deletes a cached pack (the model view's Remove).
func (c *Root) RemovePack(url string) {
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
func (c *Root) watchCache() {
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
func (c *Root) usageText() string {
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
func (c *Root) gpuText() string {
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
