package deploytest

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// The subset of the Cloud Foundation Toolkit BlueprintMetadata schema
// (apiVersion blueprints.cloud.google.com/v1alpha1) that acmera's files use.
// Decoding with KnownFields rejects misspelt or unsupported keys.
type blueprint struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   struct {
		Name        string            `yaml:"name"`
		Annotations map[string]string `yaml:"annotations"`
	} `yaml:"metadata"`
	Spec struct {
		Info struct {
			Title  string `yaml:"title"`
			Source struct {
				Repo       string `yaml:"repo"`
				SourceType string `yaml:"sourceType"`
				Dir        string `yaml:"dir"`
			} `yaml:"source"`
			Version       string `yaml:"version"`
			ActuationTool struct {
				Flavor  string `yaml:"flavor"`
				Version string `yaml:"version"`
			} `yaml:"actuationTool"`
			Description struct {
				Tagline  string `yaml:"tagline"`
				Detailed string `yaml:"detailed"`
			} `yaml:"description"`
		} `yaml:"info"`
		Content struct {
			Documentation []struct {
				Title string `yaml:"title"`
				URL   string `yaml:"url"`
			} `yaml:"documentation"`
			Examples []struct {
				Name     string `yaml:"name"`
				Location string `yaml:"location"`
			} `yaml:"examples"`
		} `yaml:"content"`
		Interfaces struct {
			Variables []bpVariable `yaml:"variables"`
			Outputs   []struct {
				Name        string `yaml:"name"`
				Description string `yaml:"description"`
			} `yaml:"outputs"`
		} `yaml:"interfaces"`
		Requirements struct {
			Roles []struct {
				Level string   `yaml:"level"`
				Roles []string `yaml:"roles"`
			} `yaml:"roles"`
			Services []string `yaml:"services"`
		} `yaml:"requirements"`
		UI *blueprintUI `yaml:"ui"`
	} `yaml:"spec"`
}

type bpVariable struct {
	Name         string `yaml:"name"`
	Description  string `yaml:"description"`
	VarType      string `yaml:"varType"`
	DefaultValue any    `yaml:"defaultValue"`
	Required     bool   `yaml:"required"`
}

type blueprintUI struct {
	Input struct {
		Variables map[string]struct {
			Name            string `yaml:"name"`
			Title           string `yaml:"title"`
			Section         string `yaml:"section"`
			Tooltip         string `yaml:"tooltip"`
			Invisible       bool   `yaml:"invisible"`
			EnumValueLabels []struct {
				Label string `yaml:"label"`
				Value string `yaml:"value"`
			} `yaml:"enumValueLabels"`
		} `yaml:"variables"`
		Sections []struct {
			Name  string `yaml:"name"`
			Title string `yaml:"title"`
		} `yaml:"sections"`
	} `yaml:"input"`
	Runtime struct {
		Outputs map[string]struct {
			Visibility string `yaml:"visibility"`
		} `yaml:"outputs"`
	} `yaml:"runtime"`
}

func loadBlueprint(t *testing.T, rel string) blueprint {
	t.Helper()
	dec := yaml.NewDecoder(strings.NewReader(readRepoFile(t, rel)))
	dec.KnownFields(true)
	var bp blueprint
	if err := dec.Decode(&bp); err != nil {
		t.Fatalf("%s: yaml decode: %v", rel, err)
	}
	if bp.APIVersion != "blueprints.cloud.google.com/v1alpha1" || bp.Kind != "BlueprintMetadata" {
		t.Fatalf("%s: apiVersion/kind = %s/%s", rel, bp.APIVersion, bp.Kind)
	}
	return bp
}

func loadTFBlocks(t *testing.T, rel, kind string) []tfBlock {
	t.Helper()
	all, err := parseBlocks(readRepoFile(t, rel))
	if err != nil {
		t.Fatalf("%s: %v", rel, err)
	}
	var out []tfBlock
	for _, b := range all {
		if b.Kind == kind {
			out = append(out, b)
		}
	}
	if len(out) == 0 {
		t.Fatalf("%s: no %s blocks", rel, kind)
	}
	return out
}

// hclDefault turns a literal HCL default into the value YAML decodes to;
// ok is false for defaults that are not simple literals.
func hclDefault(lit string) (v any, ok bool) {
	if s, err := hclString(lit); err == nil {
		return s, true
	}
	var j any
	if err := json.Unmarshal([]byte(lit), &j); err == nil {
		if f, isNum := j.(float64); isNum && f == float64(int(f)) {
			return int(f), true
		}
		return j, true
	}
	return nil, false
}

func sameValue(a, b any) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return bytes.Equal(ja, jb)
}

// TestMetadataMatchesVariables fails when terraform/metadata.yaml and
// terraform/variables.tf disagree on a variable's name, description, type,
// whether it is required, or a literal default.
func TestMetadataMatchesVariables(t *testing.T) {
	bp := loadBlueprint(t, "terraform/metadata.yaml")
	meta := map[string]bpVariable{}
	for _, v := range bp.Spec.Interfaces.Variables {
		if _, dup := meta[v.Name]; dup {
			t.Errorf("metadata.yaml lists variable %s twice", v.Name)
		}
		meta[v.Name] = v
	}
	tfVars := loadTFBlocks(t, "terraform/variables.tf", "variable")
	seen := map[string]bool{}
	for _, b := range tfVars {
		seen[b.Name] = true
		t.Run(b.Name, func(t *testing.T) {
			m, ok := meta[b.Name]
			if !ok {
				t.Fatal("missing from metadata.yaml")
			}
			desc, err := hclString(b.Attrs["description"])
			if err != nil {
				t.Fatalf("description: %v", err)
			}
			if m.Description != desc {
				t.Errorf("description: metadata %q, variables.tf %q", m.Description, desc)
			}
			if normType(m.VarType) != normType(b.Attrs["type"]) {
				t.Errorf("varType: metadata %q, variables.tf %q", m.VarType, b.Attrs["type"])
			}
			def, hasDefault := b.Attrs["default"]
			if m.Required == hasDefault {
				t.Errorf("required: metadata %v, variables.tf has default: %v", m.Required, hasDefault)
			}
			switch want, literal := hclDefault(def); {
			case !hasDefault || def == "null":
				if m.DefaultValue != nil {
					t.Errorf("defaultValue: metadata %v, variables.tf has none", m.DefaultValue)
				}
			case literal && !sameValue(m.DefaultValue, want):
				t.Errorf("defaultValue: metadata %#v, variables.tf %s", m.DefaultValue, def)
			}
		})
	}
	for name := range meta {
		if !seen[name] {
			t.Errorf("metadata.yaml variable %s is not in variables.tf", name)
		}
	}
}

// TestMetadataMatchesOutputs compares output names and descriptions.
func TestMetadataMatchesOutputs(t *testing.T) {
	bp := loadBlueprint(t, "terraform/metadata.yaml")
	meta := map[string]string{}
	for _, o := range bp.Spec.Interfaces.Outputs {
		meta[o.Name] = o.Description
	}
	tfOut := map[string]string{}
	for _, b := range loadTFBlocks(t, "terraform/outputs.tf", "output") {
		d, err := hclString(b.Attrs["description"])
		if err != nil {
			t.Fatalf("output %s description: %v", b.Name, err)
		}
		tfOut[b.Name] = d
	}
	if !reflect.DeepEqual(meta, tfOut) {
		t.Errorf("outputs differ:\nmetadata.yaml %v\noutputs.tf    %v", meta, tfOut)
	}
}

// TestDisplayMetadata checks metadata.display.yaml covers exactly the module's
// variables, each in a declared section, with enum labels that the variable's
// validation accepts.
func TestDisplayMetadata(t *testing.T) {
	bp := loadBlueprint(t, "terraform/metadata.display.yaml")
	if bp.Spec.UI == nil {
		t.Fatal("metadata.display.yaml has no spec.ui")
	}
	sections := map[string]bool{}
	for _, s := range bp.Spec.UI.Input.Sections {
		sections[s.Name] = true
	}
	vars := map[string]tfBlock{}
	for _, b := range loadTFBlocks(t, "terraform/variables.tf", "variable") {
		vars[b.Name] = b
	}
	src := readRepoFile(t, "terraform/variables.tf")
	for name, dv := range bp.Spec.UI.Input.Variables {
		t.Run(name, func(t *testing.T) {
			if _, ok := vars[name]; !ok {
				t.Fatal("not a variable of the module")
			}
			if dv.Name != name || dv.Title == "" {
				t.Errorf("name %q title %q", dv.Name, dv.Title)
			}
			if dv.Section != "" && !sections[dv.Section] {
				t.Errorf("section %q is not declared", dv.Section)
			}
			for _, e := range dv.EnumValueLabels {
				if !strings.Contains(src, `"`+e.Value+`"`) {
					t.Errorf("enum value %q does not appear in variables.tf", e.Value)
				}
			}
		})
	}
	for name := range vars {
		if _, ok := bp.Spec.UI.Input.Variables[name]; !ok {
			t.Errorf("variable %s missing from metadata.display.yaml", name)
		}
	}
	for name := range bp.Spec.UI.Runtime.Outputs {
		if !strings.Contains(readRepoFile(t, "terraform/outputs.tf"), `output "`+name+`"`) {
			t.Errorf("runtime output %s is not an output of the module", name)
		}
	}
}

var apiName = regexp.MustCompile(`"([a-z]+\.googleapis\.com)"`)

// TestMetadataExamplesServicesRoles checks the examples list matches
// terraform/examples/, every API the module enables is a listed requirement,
// and roles are well formed.
func TestMetadataExamplesServicesRoles(t *testing.T) {
	bp := loadBlueprint(t, "terraform/metadata.yaml")
	entries, err := os.ReadDir(filepath.Join(repoRoot(t), "terraform", "examples"))
	if err != nil {
		t.Fatalf("os.ReadDir: %v", err)
	}
	var dirs, listed []string
	for _, e := range entries {
		if e.IsDir() {
			dirs = append(dirs, e.Name())
		}
	}
	for _, ex := range bp.Spec.Content.Examples {
		listed = append(listed, ex.Name)
		if ex.Location != "examples/"+ex.Name {
			t.Errorf("example %s location %q", ex.Name, ex.Location)
		}
	}
	sort.Strings(listed)
	if !slices.Equal(dirs, listed) {
		t.Errorf("examples: metadata %v, terraform/examples %v", listed, dirs)
	}
	for _, m := range apiName.FindAllStringSubmatch(readRepoFile(t, "terraform/main.tf"), -1) {
		if !slices.Contains(bp.Spec.Requirements.Services, m[1]) {
			t.Errorf("main.tf enables %s; metadata.yaml requirements.services lacks it", m[1])
		}
	}
	if len(bp.Spec.Requirements.Roles) == 0 {
		t.Error("no requirements.roles")
	}
	for _, r := range bp.Spec.Requirements.Roles {
		for _, role := range r.Roles {
			if !strings.HasPrefix(role, "roles/") {
				t.Errorf("role %q", role)
			}
		}
	}
}

// TestReadmeTables checks terraform/README.md documents every input and output.
func TestReadmeTables(t *testing.T) {
	readme := readRepoFile(t, "terraform/README.md")
	inputs, outputs, ok := strings.Cut(readme, "## Outputs")
	if !ok {
		t.Fatal("README.md has no Outputs section")
	}
	for _, b := range loadTFBlocks(t, "terraform/variables.tf", "variable") {
		if !strings.Contains(inputs, "| `"+b.Name+"` |") {
			t.Errorf("input %s is not in the README's inputs table", b.Name)
		}
	}
	for _, b := range loadTFBlocks(t, "terraform/outputs.tf", "output") {
		if !strings.Contains(outputs, "| `"+b.Name+"` |") {
			t.Errorf("output %s is not in the README's outputs table", b.Name)
		}
	}
}
