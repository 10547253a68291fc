/**
 * Building the console's DOM. Text always goes in as text nodes and attributes one by one, so nothing a call
 * carries (callee, URLs, error messages) is ever parsed as markup; no module of the console sets innerHTML.
 */

const SVG_NS = 'http://www.w3.org/2000/svg';

/**
 * @typedef {object} Props
 * @property {string} [className]
 * @property {string} [text]
 * @property {string} [title]
 * @property {Record<string, string>} [attrs]
 * @property {Record<string, string>} [data] camelCase names, written as data-kebab-case attributes
 */

/** @typedef {Node | string | null | undefined | false} Child */

/**
 * An HTML element with its properties and children (strings become text nodes; falsy children are skipped).
 * @template {keyof HTMLElementTagNameMap} K
 * @param {K} tag
 * @param {Props} [props]
 * @param {Child[]} [children]
 * @returns {HTMLElementTagNameMap[K]}
 */
export function h(tag, props = {}, children = []) {
  const element = document.createElement(tag);
  apply(element, props, children);
  return element;
}

/**
 * An SVG element, as `h` builds HTML ones.
 * @template {keyof SVGElementTagNameMap} K
 * @param {K} tag
 * @param {Props} [props]
 * @param {Child[]} [children]
 * @returns {SVGElementTagNameMap[K]}
 */
export function svg(tag, props = {}, children = []) {
  const element = /** @type {SVGElementTagNameMap[K]} */ (document.createElementNS(SVG_NS, tag));
  apply(element, props, children);
  return element;
}

/**
 * @param {Element} element
 * @param {Props} props
 * @param {Child[]} children
 */
function apply(element, { className, text, title, attrs = {}, data = {} }, children) {
  if (className) element.setAttribute('class', className);
  if (title) element.setAttribute('title', title);
  for (const [name, value] of Object.entries(attrs)) element.setAttribute(name, value);
  for (const [name, value] of Object.entries(data)) element.setAttribute(`data-${kebab(name)}`, value);
  if (text !== undefined) element.textContent = text;
  for (const child of children) if (child) element.append(child);
}

/** `callId` → `call-id`: attribute names are lower case, and `dataset.callId` reads `data-call-id`. */
const kebab = (/** @type {string} */ name) => name.replace(/[A-Z]/g, (letter) => `-${letter.toLowerCase()}`);

/**
 * Replaces what `parent` holds with `children`.
 * @param {Element} parent
 * @param {Child[]} children
 */
export function fill(parent, children) {
  parent.replaceChildren(...children.filter(/** @returns {child is Node | string} */ (child) => Boolean(child)));
}

/**
 * The element with this id, which the page is known to have.
 * @template {HTMLElement} [E=HTMLElement]
 * @param {string} id
 * @returns {E}
 */
export function byId(id) {
  const element = document.getElementById(id);
  if (!element) throw new Error(`the page has no #${id}`);
  return /** @type {E} */ (element);
}
