package deploycheck

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"

	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// Object is one rendered manifest: its identity and its JSON form.
type Object struct {
	APIVersion string
	Kind       string
	Name       string
	JSON       []byte
}

func (o Object) String() string { return o.Kind + "/" + o.Name }

// Render builds one kustomization directory, as `kustomize build dir` does.
func Render(dir string) ([]Object, error) {
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	resMap, err := k.Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		return nil, fmt.Errorf("kustomize build %s: %w", dir, err)
	}
	var objs []Object
	for _, r := range resMap.Resources() {
		b, err := r.MarshalJSON()
		if err != nil {
			return nil, fmt.Errorf("%s: %s: to JSON: %w", dir, r.CurId(), err)
		}
		objs = append(objs, Object{
			APIVersion: r.GetApiVersion(),
			Kind:       r.GetKind(),
			Name:       r.GetName(),
			JSON:       b,
		})
	}
	return objs, nil
}

// Overlays lists the overlay directories under root/overlays, sorted.
func Overlays(root string) ([]string, error) {
	entries, err := os.ReadDir(filepath.Join(root, "overlays"))
	if err != nil {
		return nil, fmt.Errorf("list overlays: %w", err)
	}
	var dirs []string
	for _, e := range entries {
		if e.IsDir() {
			dirs = append(dirs, filepath.Join(root, "overlays", e.Name()))
		}
	}
	sort.Strings(dirs)
	if len(dirs) == 0 {
		return nil, fmt.Errorf("no overlays under %s", root)
	}
	return dirs, nil
}

// Examples lists the example kustomizations under root/examples (each a
// Hopper overlay plus something added to it, such as a worker service of
// one's own), sorted; none when the folder does not exist.
func Examples(root string) ([]string, error) {
	entries, err := os.ReadDir(filepath.Join(root, "examples"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list examples: %w", err)
	}
	var dirs []string
	for _, e := range entries {
		dir := filepath.Join(root, "examples", e.Name())
		if _, err := os.Stat(filepath.Join(dir, "kustomization.yaml")); e.IsDir() && err == nil {
			dirs = append(dirs, dir)
		}
	}
	sort.Strings(dirs)
	return dirs, nil
}
