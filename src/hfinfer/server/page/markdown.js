// A small, safe Markdown renderer for model answers.
// Safety: every piece of source text is HTML-escaped before it is placed in the
// output; the only tags produced are the ones written here, and link targets
// are kept only when they are http(s) or mailto URLs.
"use strict";

(function (global) {
  const ESCAPES = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

  function escapeHtml(text) {
    return String(text).replace(/[&<>"']/g, (c) => ESCAPES[c]);
  }

  const FENCE = /^ {0,3}(`{3,}|~{3,})\s*([^\s`]*)[^`]*$/;
  const HEADING = /^ {0,3}(#{1,6})\s+(.*?)\s*#*\s*$/;
  const RULE = /^ {0,3}([-*_])(?:\s*\1){2,}\s*$/;
  const QUOTE = /^ {0,3}>\s?(.*)$/;
  const ITEM = /^(\s*)([-*+]|\d{1,9}[.)])\s+(.*)$/;
  const TABLE_RULE = /^\s*\|?\s*:?-{1,}:?\s*(\|\s*:?-{1,}:?\s*)*\|?\s*$/;

  function isBlockStart(line, next) {
    return (
      FENCE.test(line) || HEADING.test(line) || RULE.test(line) || QUOTE.test(line) ||
      ITEM.test(line) || (line.includes("|") && next !== undefined && TABLE_RULE.test(next))
    );
  }

  // Block level: fenced code, headings, rules, quotes, lists, tables, paragraphs.
  function render(source) {
    const lines = String(source).replace(/\r\n?/g, "\n").split("\n");
    const out = [];
    let i = 0;
    while (i < lines.length) {
      const line = lines[i];
      let match;
      if (/^\s*$/.test(line)) {
        i += 1;
      } else if ((match = line.match(FENCE))) {
        i = codeBlock(lines, i, match, out);
      } else if ((match = line.match(HEADING))) {
        const level = match[1].length;
        out.push(`<h${level}>${inline(match[2])}</h${level}>`);
        i += 1;
      } else if (RULE.test(line)) {
        out.push("<hr>");
        i += 1;
      } else if (QUOTE.test(line)) {
        const quoted = [];
        while (i < lines.length && (match = lines[i].match(QUOTE))) {
          quoted.push(match[1]);
          i += 1;
        }
        out.push(`<blockquote>${render(quoted.join("\n"))}</blockquote>`);
      } else if (ITEM.test(line)) {
        i = list(lines, i, out);
      } else if (line.includes("|") && TABLE_RULE.test(lines[i + 1] || "")) {
        i = table(lines, i, out);
      } else {
        const paragraph = [line];
        i += 1;
        while (i < lines.length && !/^\s*$/.test(lines[i]) && !isBlockStart(lines[i], lines[i + 1])) {
          paragraph.push(lines[i]);
          i += 1;
        }
        out.push(`<p>${paragraph.map((text) => inline(text.trim())).join("<br>")}</p>`);
      }
    }
    return out.join("\n");
  }

  function codeBlock(lines, start, match, out) {
    const marker = match[1];
    const language = match[2].replace(/[^\w+#.-]/g, "");
    const body = [];
    let i = start + 1;
    while (i < lines.length && !lines[i].trim().startsWith(marker)) {
      body.push(lines[i]);
      i += 1;
    }
    const label = language ? `<span class="code-language">${escapeHtml(language)}</span>` : "";
    const attribute = language ? ` class="language-${escapeHtml(language)}"` : "";
    out.push(
      `<div class="code-block"><div class="code-head">${label}` +
        `<button type="button" class="copy-code">Copy</button></div>` +
        `<pre><code${attribute}>${escapeHtml(body.join("\n"))}</code></pre></div>`
    );
    return i + 1; // past the closing fence (or the end of an unclosed block while streaming)
  }

  function list(lines, start, out) {
    const ordered = /\d/.test(lines[start].match(ITEM)[2]);
    const indent = lines[start].match(ITEM)[1].length;
    const items = [];
    let i = start;
    while (i < lines.length) {
      const match = lines[i].match(ITEM);
      if (match && match[1].length <= indent) {
        if (/\d/.test(match[2]) !== ordered) break;
        items.push([match[3]]);
        i += 1;
      } else if (items.length && /^\s+\S/.test(lines[i])) {
        items[items.length - 1].push(lines[i].replace(/^\s{1,4}/, "")); // a nested line
        i += 1;
      } else if (/^\s*$/.test(lines[i]) && ITEM.test(lines[i + 1] || "")) {
        i += 1; // a loose list: a blank line between items
      } else {
        break;
      }
    }
    const first = ordered ? parseInt(lines[start].match(ITEM)[2], 10) : 1;
    const tag = ordered ? "ol" : "ul";
    const startAttribute = ordered && first !== 1 ? ` start="${first}"` : "";
    const body = items.map((item) => {
      const [head, ...rest] = item;
      const nested = rest.length ? render(rest.join("\n")) : "";
      return `<li>${inline(head)}${nested}</li>`;
    });
    out.push(`<${tag}${startAttribute}>${body.join("")}</${tag}>`);
    return i;
  }

  function cells(line) {
    return line.trim().replace(/^\|/, "").replace(/\|$/, "").split("|").map((cell) => cell.trim());
  }

  function table(lines, start, out) {
    const head = cells(lines[start]);
    const aligns = cells(lines[start + 1]).map((cell) =>
      cell.startsWith(":") && cell.endsWith(":") ? "center" : cell.endsWith(":") ? "right" : ""
    );
    const style = (n) => (aligns[n] ? ` class="align-${aligns[n]}"` : "");
    let i = start + 2;
    const rows = [];
    while (i < lines.length && lines[i].includes("|") && !/^\s*$/.test(lines[i])) {
      rows.push(cells(lines[i]));
      i += 1;
    }
    const headHtml = head.map((cell, n) => `<th${style(n)}>${inline(cell)}</th>`).join("");
    const rowsHtml = rows
      .map((row) => `<tr>${head.map((_, n) => `<td${style(n)}>${inline(row[n] || "")}</td>`).join("")}</tr>`)
      .join("");
    out.push(`<div class="table-wrap"><table><thead><tr>${headHtml}</tr></thead><tbody>${rowsHtml}</tbody></table></div>`);
    return i;
  }

  // Inline: code spans are cut out first so nothing inside them is interpreted;
  // each finished piece is kept as a placeholder until the end.
  function inline(text) {
    const kept = [];
    const keep = (html) => `\u0000${kept.push(html) - 1}\u0000`;
    let source = String(text).replace(/\u0000/g, "");
    source = source.replace(/(`+)([^`]|[^`][\s\S]*?[^`])\1(?!`)/g, (_, ticks, code) =>
      keep(`<code>${escapeHtml(code.trim() ? code.replace(/^ (.*) $/, "$1") : code)}</code>`)
    );
    source = source.replace(/\[([^\]\n]+)\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g, (whole, label, url) =>
      safeUrl(url) ? keep(`<a href="${escapeHtml(url)}" target="_blank" rel="noopener noreferrer">${inlineText(label)}</a>`) : whole
    );
    source = source.replace(/\bhttps?:\/\/[^\s<>()"'`]+[^\s<>()"'`.,;:!?]/g, (url) =>
      keep(`<a href="${escapeHtml(url)}" target="_blank" rel="noopener noreferrer">${escapeHtml(url)}</a>`)
    );
    const restore = (html) => html.replace(/\u0000(\d+)\u0000/g, (_, n) => restore(kept[Number(n)]));
    return restore(inlineText(source));
  }

  // Emphasis on escaped text (the placeholders survive escaping untouched).
  function inlineText(text) {
    return escapeHtml(text)
      .replace(/\*\*(?=\S)([\s\S]*?\S)\*\*/g, "<strong>$1</strong>")
      .replace(/(^|[^\w])__(?=\S)([\s\S]*?\S)__(?!\w)/g, "$1<strong>$2</strong>")
      .replace(/(^|[^*\w])\*(?=[^\s*])([^*]*?[^\s*])\*(?!\*)/g, "$1<em>$2</em>")
      .replace(/(^|[^\w])_(?=[^\s_])([^_]*?[^\s_])_(?!\w)/g, "$1<em>$2</em>")
      .replace(/~~(?=\S)([\s\S]*?\S)~~/g, "<del>$1</del>");
  }

  function safeUrl(url) {
    return /^(https?:\/\/|mailto:)/i.test(url);
  }

  global.HfMarkdown = { render, escapeHtml };
})(window);
