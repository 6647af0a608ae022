// Browser upload: a folder of files into one new commit, through the resumable transport API.
// Each file is hashed (its SHA-256 is its blob id), sent in chunks the server acknowledges,
// and only then committed. An interrupted upload resumes where the server says it stopped:
// the upload id is kept in localStorage by blob id, and a 409 names the offset to continue at.
"use strict";

(() => {
  const CHUNK = 8 * 1024 * 1024;
  const PARALLEL = 3;
  const MAX_HASHED = 2 * 1024 ** 3; // Web Crypto hashes whole buffers: bigger files go through the CLI
  const MEDIA_TYPES = { ".dcm": "application/dicom", ".nii": "application/x-nifti", ".gz": "application/gzip" };

  const form = document.getElementById("upload-form");
  if (!form) return;
  const api = form.dataset.api;
  const status = document.getElementById("upload-status");
  const bar = document.getElementById("upload-progress");
  const text = document.getElementById("upload-text");

  function headers(json) {
    const h = { "X-CSRF-Token": form.dataset.csrf };
    if (json) h["Content-Type"] = "application/json";
    return h;
  }

  async function call(method, url, body, json = true) {
    const response = await fetch(url, {
      method,
      credentials: "same-origin",
      headers: headers(json && body !== undefined),
      body: json && body !== undefined ? JSON.stringify(body) : body,
    });
    const data = response.headers.get("content-type")?.includes("json") ? await response.json() : {};
    return { response, data };
  }

  function failure(what, data, response) {
    return new Error(`${what}: ${data.detail || response.statusText} (${response.status})`);
  }

  function mediaType(name) {
    const dot = name.lastIndexOf(".");
    return (dot >= 0 && MEDIA_TYPES[name.slice(dot).toLowerCase()]) || "application/octet-stream";
  }

  async function sha256(file) {
    if (!crypto.subtle) throw new Error("hashing needs a secure context: open the portal over HTTPS");
    const digest = await crypto.subtle.digest("SHA-256", await file.arrayBuffer());
    return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
  }

  async function resumeOrStart(blob, size) {
    const remembered = localStorage.getItem(`ih-upload:${blob}`);
    if (remembered) {
      const { response, data } = await call("GET", `${api}/uploads/${remembered}`);
      if (response.ok) return data;
      localStorage.removeItem(`ih-upload:${blob}`);
    }
    const { response, data } = await call("POST", `${api}/uploads`, { blob, size });
    if (!response.ok) throw failure("starting the upload", data, response);
    if (data.id) localStorage.setItem(`ih-upload:${blob}`, data.id);
    return data;
  }

  async function send(file, blob, progress) {
    const state = await resumeOrStart(blob, file.size);
    if (state.complete) return progress(file.size); // the server already has these bytes
    let offset = state.offset;
    progress(offset);
    while (offset < file.size) {
      const chunk = file.slice(offset, offset + CHUNK);
      const url = `${api}/uploads/${state.id}?offset=${offset}`;
      const { response, data } = await call("PUT", url, chunk, false);
      if (response.status === 409 && typeof data.offset === "number") {
        offset = data.offset; // someone (an earlier attempt) got further: continue from there
      } else if (!response.ok) {
        throw failure(`uploading ${file.name}`, data, response);
      } else {
        offset = data.offset;
      }
      progress(offset);
    }
    const { response, data } = await call("POST", `${api}/uploads/${state.id}/complete`);
    if (!response.ok) throw failure(`checking ${file.name}`, data, response);
    localStorage.removeItem(`ih-upload:${blob}`);
  }

  function datasetPath(file, prefix) {
    const relative = file.webkitRelativePath || file.name;
    const clean = prefix.replace(/^\/+|\/+$/g, "");
    return clean ? `${clean}/${relative}` : relative;
  }

  async function pool(items, worker) {
    let next = 0;
    const run = async () => {
      while (next < items.length) {
        const index = next++;
        await worker(items[index], index);
      }
    };
    await Promise.all(Array.from({ length: Math.min(PARALLEL, items.length) }, run));
  }

  async function upload(files, prefix, message) {
    const tooBig = files.find((f) => f.size > MAX_HASHED);
    if (tooBig) throw new Error(`${tooBig.name} is over 2 GiB: upload it with the imagehub CLI`);
    const total = files.reduce((sum, f) => sum + f.size, 0) * 2 || 1; // hashing, then sending
    const done = new Map();
    const report = (label) => {
      const sum = Array.from(done.values()).reduce((a, b) => a + b, 0);
      bar.value = sum / total;
      text.textContent = `${label} — ${Math.round((100 * sum) / total)}% of ${files.length} files`;
    };
    const blobs = new Array(files.length);
    await pool(files, async (file, index) => {
      blobs[index] = await sha256(file);
      done.set(`h:${index}`, file.size);
      report(`hashed ${file.name}`);
    });
    // Identical files are one blob: send it once, then every path names it.
    const firstOf = new Map();
    blobs.forEach((blob, index) => firstOf.has(blob) || firstOf.set(blob, index));
    files.forEach((file, index) => firstOf.get(blobs[index]) === index || done.set(`s:${index}`, file.size));
    await pool([...firstOf.values()], async (index) => {
      await send(files[index], blobs[index], (sent) => {
        done.set(`s:${index}`, sent);
        report(`sending ${files[index].name}`);
      });
    });
    text.textContent = "committing…";
    const entries = files.map((file, index) => ({
      path: datasetPath(file, prefix),
      blob: blobs[index],
      size: file.size,
      media_type: mediaType(file.name),
    }));
    const body = { message, changes: { put: entries }, expected_parent: form.dataset.parent };
    const branch = encodeURIComponent(form.dataset.branch);
    const { response, data } = await call("POST", `${api}/branches/${branch}/commits`, body);
    if (response.status === 409 && data.error === "BranchMoved") {
      // Someone committed first. The blobs are on the server; committing again is quick.
      // Any other refusal (a protected branch, say) is shown as the server words it.
      const head = await call("GET", `${api}/branches/${branch}`);
      if (head.response.ok) form.dataset.parent = head.data.commit_id;
      throw new Error(`${form.dataset.branch} moved while you uploaded (${data.detail}); submit again to commit on top of it`);
    }
    if (!response.ok) throw failure("committing", data, response);
    bar.value = 1;
    text.innerHTML = "";
    const link = document.createElement("a");
    link.href = `${form.dataset.home}/commit/${data.id}`;
    link.id = "upload-commit";
    link.textContent = `Committed ${entries.length} files as ${data.id.slice(0, 12)}`;
    text.append(link);
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const picked = [
      ...document.getElementById("upload-folder").files,
      ...document.getElementById("upload-files").files,
    ];
    if (!picked.length) return;
    status.hidden = false;
    form.querySelector("button").disabled = true;
    try {
      await upload(picked, document.getElementById("upload-prefix").value, document.getElementById("upload-message").value);
    } catch (error) {
      text.textContent = `Upload stopped: ${error.message}. Submit again to resume.`;
      text.setAttribute("role", "alert");
      form.querySelector("button").disabled = false;
    }
  });
})();
