//go:build js && wasm

package webfs

import (
	"fmt"
	"io"
	"net/url"
	"strings"

	"github.com/hack-pad/safejs"
)

// LocalBase is the made-up page URL a local folder's files are named under: FS
// resolves the folder's name against it, and Blobs takes the names back off.
const LocalBase = "http://local.invalid/"

// Blobs is the Getter of a folder the user chose or dropped: files holds its File
// (or Blob) objects by path inside the folder, and a URL under LocalBase + folder
// answers the file's bytes, streamed from Blob.stream(); a name it lacks answers 404.
func Blobs(base, folder string, files map[string]safejs.Value) Getter {
	return func(u string) (*Response, error) {
		rel, ok := strings.CutPrefix(u, base)
		if ok {
			rel, ok = strings.CutPrefix(rel, url.PathEscape(strings.TrimSuffix(folder, "/"))+"/")
		}
		if !ok {
			return nil, fmt.Errorf("%s is not in the local folder %s", u, folder)
		}
		name, err := url.PathUnescape(rel)
		if err != nil {
			return nil, err
		}
		f, ok := files[name]
		if !ok {
			return &Response{Code: 404, Status: "404 Not Found", Length: 0, Body: emptyBody{}}, nil
		}
		size, err := getInt(f, "size")
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		stream, err := f.Call("stream")
		if err != nil {
			return nil, fmt.Errorf("%s: Blob.stream: %w", name, err)
		}
		reader, err := stream.Call("getReader")
		if err != nil {
			return nil, fmt.Errorf("%s: getReader: %w", name, err)
		}
		return &Response{Code: 200, Status: "200 OK", Length: int64(size), Body: &streamReader{reader: reader}}, nil
	}
}

// emptyBody is the body of a file the folder lacks.
type emptyBody struct{}

func (emptyBody) Read([]byte) (int, error) { return 0, io.EOF }
func (emptyBody) Close() error             { return nil }
