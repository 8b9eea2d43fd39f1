// chart.js - the charts the UI draws, on Chart.js (tree-shaken: only the
// bar and line controllers). Colours follow the current theme.

import {
  BarController, BarElement, CategoryScale, Chart, Legend, LinearScale, LineController, LineElement, PointElement, Tooltip,
} from 'chart.js';

Chart.register(BarController, BarElement, CategoryScale, LinearScale, Legend, Tooltip, LineController, LineElement, PointElement);

const COLORS = ['#6366f1', '#10b981', '#f59e0b', '#ef4444'];

export function barChart(canvas, labels, series) {
  const dark = document.documentElement.getAttribute('data-bs-theme') === 'dark';
  const fg = dark ? '#dee2e6' : '#212529';
  const grid = dark ? 'rgba(255,255,255,0.1)' : 'rgba(0,0,0,0.08)';
  return new Chart(canvas, {
    type: 'bar',
    data: {
      labels: labels.map((l) => (l.length > 24 ? `${l.slice(0, 23)}\u2026` : l)),
      datasets: series.map((s, i) => ({ ...s, backgroundColor: COLORS[i % COLORS.length], borderRadius: 4 })),
    },
    options: {
      responsive: true,
      maintainAspectRatio: false,
      animation: false,
      plugins: { legend: { labels: { color: fg } } },
      scales: {
        x: { ticks: { color: fg }, grid: { color: grid } },
        y: { beginAtZero: true, ticks: { color: fg, precision: 0 }, grid: { color: grid } },
      },
    },
  });
}

// A line chart over `labels` (e.g. days) with one or more series.
export function lineChart(canvas, labels, series, { yLabel } = {}) {
  const dark = document.documentElement.getAttribute('data-bs-theme') === 'dark';
  const fg = dark ? '#dee2e6' : '#212529';
  const grid = dark ? 'rgba(255,255,255,0.1)' : 'rgba(0,0,0,0.08)';
  return new Chart(canvas, {
    type: 'line',
    data: {
      labels,
      datasets: series.map((s, i) => ({ ...s, borderColor: COLORS[i % COLORS.length], backgroundColor: COLORS[i % COLORS.length], tension: 0.2, pointRadius: 3 })),
    },
    options: {
      responsive: true,
      maintainAspectRatio: false,
      animation: false,
      plugins: { legend: { labels: { color: fg } } },
      scales: {
        x: { ticks: { color: fg }, grid: { color: grid } },
        y: { beginAtZero: true, ticks: { color: fg }, grid: { color: grid }, title: yLabel ? { display: true, text: yLabel, color: fg } : undefined },
      },
    },
  });
}
