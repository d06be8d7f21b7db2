// Package ui holds the web dashboard's files (HTML, CSS and JavaScript
// modules, no build step) embedded in the binary, so /ui/ is served by
// cubelet itself with nothing to install. It owns no Go logic: handlers
// serves the files, and the page talks to the same v1 API as the CLI.
package ui

import (
	"embed"
	"io/fs"
)

//go:embed index.html style.css js
var files embed.FS

// Files is the dashboard's file tree, rooted at its index.html.
var Files fs.FS = files
