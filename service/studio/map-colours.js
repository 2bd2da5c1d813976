// The latent map's colours: by class (a palette), or by one attribute (has it / has it not, the
// points that have it drawn on top), and the legend's entries with their counts.

const PALETTE = [
  "#1f77b4",
  "#ff7f0e",
  "#2ca02c",
  "#d62728",
  "#9467bd",
  "#8c564b",
  "#e377c2",
  "#7f7f7f",
  "#bcbd22",
  "#17becf",
];
const HAS = "#d1495b";
const HAS_NOT = "#7d8ea3";

/** The colour choices of a map's labels: [value, text] pairs for the colour picker. */
export function colourChoices(labels) {
  return {
    class: () => [["class", "class"]],
    attribute: () => labels.names.map((name, i) => [String(i), name]),
    none: () => [["", "no labels"]],
  }[labels.kind]();
}

/** The attribute closest to half the points: the most telling default colouring. */
export function balancedAttribute(labels) {
  const counts = labels.names.map(() => 0);
  for (const value of labels.values) for (const label of value) counts[label] += 1;
  const half = labels.values.length / 2;
  let best = 0;
  counts.forEach((count, i) => {
    if (Math.abs(count - half) < Math.abs(counts[best] - half)) best = i;
  });
  return best;
}

/** Each point's colour, which are drawn last (on top), and the legend's [colour, name, count]
 * entries; `chosen` is the attribute coloured, for attribute labels. */
export function pointColours({ labels, count }, chosen) {
  const fill = new Array(count);
  const front = new Array(count).fill(false);
  if (labels.kind === "class") {
    const counts = labels.names.map(() => 0);
    labels.values.forEach((value, i) => {
      const label = value[0] ?? -1;
      fill[i] = label < 0 ? HAS_NOT : PALETTE[label % PALETTE.length];
      if (label >= 0) counts[label] += 1;
    });
    const legend = labels.names.map((name, i) => [PALETTE[i % PALETTE.length], name, counts[i]]);
    return { fill, front, legend };
  }
  if (labels.kind === "none") {
    return { fill: fill.fill(HAS), front, legend: [[HAS, "unlabeled", count]] };
  }
  let has = 0;
  labels.values.forEach((value, i) => {
    front[i] = value.includes(chosen);
    fill[i] = front[i] ? HAS : HAS_NOT;
    has += front[i] ? 1 : 0;
  });
  const name = labels.names[chosen];
  const legend = [
    [HAS, name, has],
    [HAS_NOT, `not ${name}`, count - has],
  ];
  return { fill, front, legend };
}

/** The legend's list items: a swatch, the name and the count. */
export function legendItems(entries) {
  return entries.map(([colour, name, count]) => {
    const swatch = document.createElement("span");
    swatch.className = "swatch";
    swatch.style.backgroundColor = colour;
    const item = document.createElement("li");
    item.append(swatch, `${name} (${count})`);
    return item;
  });
}
