// Package ui embeds the gateway's web dashboard: a single page in plain
// HTML, CSS and JavaScript, served from the binary with no CDN. It talks to
// the same /v1 API as every other client, authenticated by the session
// cookie the gateway sets at sign-in.
package ui

import (
	"embed"
	"io/fs"
)

//go:embed assets
var assets embed.FS

// Assets is the dashboard's static files (index.html, app.js with the
// views, admin.js with the admin pages, output.js with a job's live
// output, app.css, favicon.svg): all of the directory is embedded.
func Assets() fs.FS {
	sub, err := fs.Sub(assets, "assets")
	if err != nil {
		// "assets" is embedded above; fs.Sub only fails on a bad name.
		return assets
	}
	return sub
}
