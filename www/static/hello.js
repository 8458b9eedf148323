// Which app answered the API (the round robin made visible). A file, not an
// inline script, so the site's Content-Security-Policy (script-src 'self')
// lets it run.
fetch('/api/hello').then(r => r.json()).then(j => {
  document.getElementById('api').textContent = j.host;
}).catch(() => {
  document.getElementById('api').textContent = 'nowhere (the app is down)';
});
