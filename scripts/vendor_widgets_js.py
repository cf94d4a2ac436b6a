#!/usr/bin/env python3
"""Fetch the JavaScript that renders the book's ipywidgets into book/_static/jupyter-widgets/.

myst-nb's default `nb_ipywidgets_js` loads require.js from cdnjs and the widget
embedder from jsDelivr, so offline a chapter's widgets are blank. This script takes
both from the npm registry (`npm pack`, no node_modules) so the book serves them itself:

  require.js    requirejs@REQUIREJS (MIT), dist file unchanged
  embed-amd.js  @jupyter-widgets/html-manager@HTML_MANAGER (BSD-3-Clause), dist/embed-amd.js
                with two blocks left out (see below) and its `//# sourceMappingURL=`
                lines dropped (the maps are not shipped; a browser with DevTools open
                would ask for them)
  <hash>.woff2  the three Font Awesome Free FONTAWESOME fonts (SIL OFL 1.1) from
                html-manager's dist/, under the names its CSS asks for (the .woff, .ttf,
                .eot and .svg copies are left out: every browser that runs embed-amd.js
                takes woff2); LICENSE-fontawesome.txt from @fortawesome/fontawesome-free

embed-setup.js, beside them, is the book's own (see its comments), not fetched here.

html-manager 1.x renders widget-state protocol 2 (ipywidgets 8, the one the notebooks
store: base 2.0.0, controls 2.0.0, output 1.0.0) and, bundled inside its own module,
protocol 1 (ipywidgets 7). Its embed-amd.js also defines `@jupyter-widgets/base7` and
`@jupyter-widgets/controls7` as separate AMD modules (0.8 MB) that nothing in the file
requires: the html-manager module carries its own copies. They are left out to keep
the book small; everything else is byte for byte upstream.

    .venv/bin/python scripts/vendor_widgets_js.py     # needs npm and the npm registry
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEST = ROOT / "book" / "_static" / "jupyter-widgets"
HTML_MANAGER = "1.0.15"  # matches ipywidgets 8.1.x (base ^6.0.12, controls ^5.0.13)
REQUIREJS = "2.3.8"
FONTAWESOME = "5.15.4"  # the one html-manager bundles (see the CSS header in embed-amd.js)
DROP = ("@jupyter-widgets/base7", "@jupyter-widgets/controls7")
REQUIREJS_LICENSE = """\
RequireJS {version} (requirejs on npm, https://github.com/requirejs/requirejs)
Its header: "Copyright jQuery Foundation and other contributors. Released under MIT license,
https://github.com/requirejs/requirejs/blob/master/LICENSE". The MIT licence:

Copyright jQuery Foundation and other contributors, https://jquery.org/

Permission is hereby granted, free of charge, to any person obtaining a copy of this
software and associated documentation files (the "Software"), to deal in the Software
without restriction, including without limitation the rights to use, copy, modify, merge,
publish, distribute, sublicense, and/or sell copies of the Software, and to permit persons
to whom the Software is furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all copies or
substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED,
INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY, FITNESS FOR A PARTICULAR
PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE AUTHORS OR COPYRIGHT HOLDERS BE LIABLE
FOR ANY CLAIM, DAMAGES OR OTHER LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR
OTHERWISE, ARISING FROM, OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER
DEALINGS IN THE SOFTWARE.
"""
LICENSE_HEADER = re.compile(r"/\*! For license information please see [^*]+\*/\n")


def npm_pack(spec: str, tmp: Path) -> Path:
    name = subprocess.run(["npm", "pack", spec, "--silent"], cwd=tmp, check=True,
                          capture_output=True, text=True).stdout.split()[-1]
    out = tmp / name.removesuffix(".tgz")
    with tarfile.open(tmp / name) as tar:
        tar.extractall(out, filter="data")
    return out / "package"


def ipywidgets_license() -> str:
    from importlib.metadata import distribution
    dist = distribution("ipywidgets")
    name = next(f for f in dist.files if f.name.upper().startswith("LICENSE"))
    return Path(dist.locate_file(name)).read_text(encoding="utf-8")


def trim_embed_amd(text: str) -> str:
    """Leave out the AMD modules in DROP; each block runs from its licence line to the next."""
    starts = [m.start() for m in LICENSE_HEADER.finditer(text)]
    blocks = [text[a:b] for a, b in zip(starts, starts[1:] + [len(text)])]
    head, kept, dropped = text[:starts[0]], [], []
    for block in blocks:
        name = re.search(r'define\("([^"]+)"', block)
        (dropped if name and name.group(1) in DROP else kept).append(block)
    assert len(dropped) == len(DROP), f"expected {DROP} in embed-amd.js, found {len(dropped)}"
    out = head + "".join(kept)
    for name in DROP:  # nothing left may ask for them
        assert f'"{name}"' not in out, f"{name} is still required"
    return re.sub(r"(?m)^//# sourceMappingURL=\S+\n?", "", out)


def main() -> int:
    if shutil.which("npm") is None:
        print("npm is needed (apt-get install npm)", file=sys.stderr)
        return 2
    DEST.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        hm = npm_pack(f"@jupyter-widgets/html-manager@{HTML_MANAGER}", Path(tmp))
        rq = npm_pack(f"requirejs@{REQUIREJS}", Path(tmp))
        fa = npm_pack(f"@fortawesome/fontawesome-free@{FONTAWESOME}", Path(tmp))
        hm_license = json.loads((hm / "package.json").read_text())["license"]
        assert hm_license == "BSD-3-Clause", hm_license
        assert json.loads((rq / "package.json").read_text())["license"] == "MIT"
        shutil.copyfile(rq / "require.js", DEST / "require.js")
        embed = (hm / "dist" / "embed-amd.js").read_text(encoding="utf-8")
        provenance = (f"/*! @jupyter-widgets/html-manager@{HTML_MANAGER} dist/embed-amd.js (BSD-3-Clause, "
                      f"Project Jupyter Contributors; see LICENSE-ipywidgets.txt and THIRD-PARTY-LICENSES.txt),\n"
                      f" * without the unused {' and '.join(DROP)} AMD modules: "
                      f"made by scripts/vendor_widgets_js.py */\n")
        (DEST / "embed-amd.js").write_text(provenance + trim_embed_amd(embed), encoding="utf-8")
        # the npm package ships no LICENSE; html-manager lives in the ipywidgets repository,
        # whose BSD-3-Clause licence the ipywidgets wheel carries
        (DEST / "LICENSE-ipywidgets.txt").write_text(
            f"@jupyter-widgets/html-manager {HTML_MANAGER}: {hm_license}, the licence of the ipywidgets "
            f"repository (https://github.com/jupyter-widgets/ipywidgets):\n\n{ipywidgets_license()}",
            encoding="utf-8")
        (DEST / "LICENSE-requirejs.txt").write_text(REQUIREJS_LICENSE.format(version=REQUIREJS), encoding="utf-8")
        # licences of what webpack bundled (jQuery, jQuery UI, ...), as html-manager lists them
        shutil.copyfile(hm / "dist" / "embed.js.LICENSE.txt", DEST / "THIRD-PARTY-LICENSES.txt")
        assert f"Font Awesome Free {FONTAWESOME} " in embed, "html-manager bundles another Font Awesome"
        ours = {f.read_bytes() for f in (fa / "webfonts").glob("*.woff2")}
        fonts = sorted((hm / "dist").glob("*.woff2"))
        assert len(fonts) == 3 and all(f.read_bytes() in ours for f in fonts), "fonts differ from Font Awesome's"
        for old in DEST.glob("*.woff2"):
            old.unlink()
        for font in fonts:
            shutil.copyfile(font, DEST / font.name)
        shutil.copyfile(fa / "LICENSE.txt", DEST / "LICENSE-fontawesome.txt")
    for f in sorted(DEST.iterdir()):
        digest = hashlib.sha256(f.read_bytes()).hexdigest()[:16]
        print(f"{f.relative_to(ROOT)}  {f.stat().st_size:>9,} bytes  sha256 {digest}…")
    return 0


if __name__ == "__main__":
    sys.exit(main())
