// Loaded just before embed-amd.js on pages with ipywidgets (nb_ipywidgets_js in
// book/_config.yml). Written for this book (dalle_edu), not part of ipywidgets.
(function () {
  "use strict";
  // 1. Where embed-amd.js finds its Font Awesome fonts: this folder. Each webpack bundle in
  //    it takes its public path from its AMD module's URL as require.js sees it, by default
  //    the page's folder + the module's name ("notebooks/@jupyter-widgets/html-manager/dist/"),
  //    where nothing is: every icon of the page (the theme's too, whose .fas/.fab classes
  //    html-manager's CSS takes over) would show as a blank. The modules are all defined
  //    inside embed-amd.js, so these paths are never fetched: they only name this folder.
  //    window.__jupyter_widgets_assets_path__ covers what html-manager loads later.
  var script = document.currentScript;
  var here = script && script.src ? script.src.replace(/[^/]*$/, "") : null;
  if (here) {
    window.__jupyter_widgets_assets_path__ = here;
    if (window.requirejs) {
      var dir = here.replace(/\/$/, "");
      window.requirejs.config({
        paths: {
          // a module NAME resolves to DIR/NAME-TAIL.js, and its public path is that folder
          "@jupyter-widgets/html-manager/dist": dir,
          "@jupyter-widgets/html-manager": dir + "/html-manager",
          "@jupyter-widgets/base": dir + "/base",
          "@jupyter-widgets/controls": dir + "/controls",
        },
      });
    }
  }
  // 2. @jupyter-widgets/controls typesets widget labels with MathJax 2's
  //    MathJax.Hub.Queue(["Typeset", MathJax.Hub, element]); the book runs MathJax 3,
  //    which has no Hub, so each label threw a TypeError (jupyter-widgets/ipywidgets#3829).
  //    Answer those calls with MathJax 3's typesetPromise once MathJax has started.
  function mathjax2Queue() {
    var mj = window.MathJax;
    if (!mj || mj.Hub || typeof mj.typesetPromise !== "function") return;
    mj.Hub = {
      Queue: function () {
        Array.prototype.forEach.call(arguments, function (job) {
          if (!Array.isArray(job) || job[0] !== "Typeset" || !job[2]) return;
          var ready = (mj.startup && mj.startup.promise) || Promise.resolve();
          ready.then(function () { return mj.typesetPromise([job[2]]); }).catch(function (e) {
            console.warn("MathJax could not typeset a widget label:", e);
          });
        });
      },
    };
  }
  // MathJax 3 replaces window.MathJax (its configuration) when it starts, so the shim
  // is put on the started one. This listener runs before embed-amd.js's, which is added
  // later and renders the widgets on "load".
  window.addEventListener("load", mathjax2Queue);
})();
