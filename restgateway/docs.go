package restgateway

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"html/template"
	"net/http"
	"sort"
	"strings"
)

// openAPIDoc is the hand-written OpenAPI 3 description of every route.
//
//go:embed openapi.json
var openAPIDoc []byte

// OpenAPI returns the OpenAPI 3 document the server serves at /openapi.json.
func OpenAPI() []byte { return bytes.Clone(openAPIDoc) }

func (s *Server) handleOpenAPI(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(openAPIDoc)
}

func (s *Server) handleDocs(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write(s.docHTML)
}

// The parts of an OpenAPI document the /docs page shows.
type apiDoc struct {
	Info struct {
		Title       string `json:"title"`
		Version     string `json:"version"`
		Description string `json:"description"`
	} `json:"info"`
	Paths      map[string]map[string]json.RawMessage `json:"paths"`
	Components struct {
		Schemas    map[string]json.RawMessage `json:"schemas"`
		Parameters map[string]apiParam        `json:"parameters"`
	} `json:"components"`
}

type apiParam struct {
	Ref         string          `json:"$ref"`
	Name        string          `json:"name"`
	In          string          `json:"in"`
	Required    bool            `json:"required"`
	Description string          `json:"description"`
	Schema      json.RawMessage `json:"schema"`
}

type apiOperation struct {
	OperationID string     `json:"operationId"`
	Summary     string     `json:"summary"`
	Description string     `json:"description"`
	Parameters  []apiParam `json:"parameters"`
	RequestBody *struct {
		Content map[string]struct {
			Schema json.RawMessage `json:"schema"`
		} `json:"content"`
	} `json:"requestBody"`
	Responses map[string]struct {
		Description string `json:"description"`
		Content     map[string]struct {
			Schema json.RawMessage `json:"schema"`
		} `json:"content"`
	} `json:"responses"`
}

// The view the page template renders.
type docPage struct {
	Title, Version, Description string
	Operations                  []docOp
	Schemas                     []docSchema
}

type docOp struct {
	Method, Path, ID, Summary, Description string
	Params                                 []apiParam
	Body                                   string
	Responses                              []docResponse
}

type docResponse struct{ Status, Description, Schema string }

type docSchema struct{ Name, JSON string }

// renderDocs turns the OpenAPI document into a static HTML page: every
// operation with its parameters, body and responses, then every schema.
func renderDocs(raw []byte) ([]byte, error) {
	var doc apiDoc
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, err
	}
	page := docPage{Title: doc.Info.Title, Version: doc.Info.Version, Description: doc.Info.Description}
	paths := make([]string, 0, len(doc.Paths))
	for p := range doc.Paths {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		var shared []apiParam
		if rawParams, ok := doc.Paths[p]["parameters"]; ok {
			if err := json.Unmarshal(rawParams, &shared); err != nil {
				return nil, err
			}
		}
		for _, m := range []string{"get", "post", "put", "delete"} {
			rawOp, ok := doc.Paths[p][m]
			if !ok {
				continue
			}
			var op apiOperation
			if err := json.Unmarshal(rawOp, &op); err != nil {
				return nil, err
			}
			d := docOp{Method: strings.ToUpper(m), Path: p, ID: op.OperationID, Summary: op.Summary, Description: op.Description}
			for _, prm := range append(append([]apiParam{}, shared...), op.Parameters...) {
				if name, ok := strings.CutPrefix(prm.Ref, "#/components/parameters/"); ok {
					prm = doc.Components.Parameters[name]
				}
				d.Params = append(d.Params, prm)
			}
			if op.RequestBody != nil {
				for _, c := range op.RequestBody.Content {
					d.Body = schemaName(c.Schema)
				}
			}
			codes := make([]string, 0, len(op.Responses))
			for c := range op.Responses {
				codes = append(codes, c)
			}
			sort.Strings(codes)
			for _, c := range codes {
				resp := op.Responses[c]
				r := docResponse{Status: c, Description: resp.Description}
				for _, ct := range resp.Content {
					r.Schema = schemaName(ct.Schema)
				}
				d.Responses = append(d.Responses, r)
			}
			page.Operations = append(page.Operations, d)
		}
	}
	names := make([]string, 0, len(doc.Components.Schemas))
	for n := range doc.Components.Schemas {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		var pretty bytes.Buffer
		if err := json.Indent(&pretty, doc.Components.Schemas[n], "", "  "); err != nil {
			return nil, err
		}
		page.Schemas = append(page.Schemas, docSchema{Name: n, JSON: pretty.String()})
	}
	var out bytes.Buffer
	if err := docTemplate.Execute(&out, page); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// schemaName names a schema by its $ref, or shows it inline.
func schemaName(raw json.RawMessage) string {
	var ref struct {
		Ref string `json:"$ref"`
	}
	if json.Unmarshal(raw, &ref) == nil && ref.Ref != "" {
		return strings.TrimPrefix(ref.Ref, "#/components/schemas/")
	}
	return string(raw)
}

var docTemplate = template.Must(template.New("docs").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{{.Title}} {{.Version}}</title>
<style>
body { font-family: system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem; color: #222; }
code, pre { font-family: ui-monospace, monospace; }
pre { background: #f5f5f5; padding: .75rem; overflow-x: auto; }
.op { border: 1px solid #ddd; border-radius: 6px; margin: 1rem 0; padding: .5rem 1rem; }
.method { display: inline-block; min-width: 4rem; font-weight: bold; }
.GET { color: #0a6; } .POST { color: #06c; }
table { border-collapse: collapse; } td, th { border: 1px solid #ddd; padding: .25rem .5rem; text-align: left; vertical-align: top; }
</style>
</head>
<body>
<h1>{{.Title}} <small>{{.Version}}</small></h1>
<p>{{.Description}}</p>
<p>Machine-readable description: <a href="/openapi.json">/openapi.json</a> (OpenAPI 3).</p>
<h2>Operations</h2>
<ul>{{range .Operations}}<li><a href="#{{.ID}}"><span class="method {{.Method}}">{{.Method}}</span> <code>{{.Path}}</code></a> — {{.Summary}}</li>{{end}}</ul>
{{range .Operations}}
<div class="op" id="{{.ID}}">
<h3><span class="method {{.Method}}">{{.Method}}</span> <code>{{.Path}}</code></h3>
<p><strong>{{.Summary}}</strong></p>
{{if .Description}}<p>{{.Description}}</p>{{end}}
{{if .Params}}<h4>Parameters</h4>
<table><tr><th>Name</th><th>In</th><th>Required</th><th>Description</th></tr>
{{range .Params}}<tr><td><code>{{.Name}}</code></td><td>{{.In}}</td><td>{{if .Required}}yes{{else}}no{{end}}</td><td>{{.Description}}</td></tr>
{{end}}</table>{{end}}
{{if .Body}}<h4>Request body</h4><p><a href="#schema-{{.Body}}"><code>{{.Body}}</code></a></p>{{end}}
<h4>Responses</h4>
<table><tr><th>Status</th><th>Description</th><th>Body</th></tr>
{{range .Responses}}<tr><td>{{.Status}}</td><td>{{.Description}}</td><td>{{if .Schema}}<a href="#schema-{{.Schema}}"><code>{{.Schema}}</code></a>{{end}}</td></tr>
{{end}}</table>
</div>
{{end}}
<h2>Schemas</h2>
{{range .Schemas}}<h3 id="schema-{{.Name}}"><code>{{.Name}}</code></h3>
<pre>{{.JSON}}</pre>
{{end}}
</body>
</html>
`))
