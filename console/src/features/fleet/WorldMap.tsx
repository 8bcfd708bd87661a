// The world map: land from world-atlas (Natural Earth, bundled: no tile server), ground stations
// with their visibility rings, satellites at their latest position and one ground track, on a
// plate carrée (Leaflet's EPSG:4326). Every shape comes from the API.
import L from "leaflet";
import { useEffect, useRef } from "react";
import { feature } from "topojson-client";
import type { GeometryCollection, Topology } from "topojson-specification";
import countries from "world-atlas/countries-110m.json";
import type { FleetMember, GroundStation, Track } from "../../api/types";
import { wrappedCopies } from "../../lib/geo";

const WORLD: L.LatLngBoundsExpression = [
  [-90, -180],
  [90, 180],
];

const topology = countries as unknown as Topology<{ countries: GeometryCollection }>;
const land = feature(topology, topology.objects.countries);

export interface WorldMapProps {
  fleet: FleetMember[];
  stations: GroundStation[];
  track: Track | null;
  selected: string | null;
}

export function WorldMap({ fleet, stations, track, selected }: WorldMapProps) {
  const container = useRef<HTMLDivElement>(null);
  const map = useRef<L.Map | null>(null);
  // Markers are kept by satellite and moved, not rebuilt: the fleet refreshes every 2 s.
  const markers = useRef(new Map<string, L.CircleMarker>());
  const layers = useRef<{ stations: L.LayerGroup; sats: L.LayerGroup; track: L.LayerGroup } | null>(
    null,
  );

  useEffect(() => {
    if (container.current === null) return;
    const known = markers.current;
    const m = L.map(container.current, {
      crs: L.CRS.EPSG4326,
      attributionControl: false,
      zoomSnap: 0.25,
      minZoom: 0,
      maxZoom: 6,
      maxBounds: [
        [-100, -200],
        [100, 200],
      ],
      worldCopyJump: false,
    });
    m.fitBounds(WORLD);
    L.geoJSON(land, {
      style: { color: "#5b6b73", weight: 0.6, fillColor: "#c9d3cf", fillOpacity: 1 },
      interactive: false,
    }).addTo(m);
    layers.current = {
      stations: L.layerGroup().addTo(m),
      track: L.layerGroup().addTo(m),
      sats: L.layerGroup().addTo(m),
    };
    map.current = m;
    return () => {
      m.remove();
      known.clear();
      map.current = null;
      layers.current = null;
    };
  }, []);

  useEffect(() => {
    const group = layers.current?.stations;
    if (!group) return;
    group.clearLayers();
    for (const gs of stations) {
      for (const ring of wrappedCopies(gs.visibility)) {
        L.polygon(ring, {
          color: "#1f5f8b",
          weight: 1,
          fillColor: "#1f5f8b",
          fillOpacity: 0.12,
          interactive: false,
        }).addTo(group);
      }
      L.circleMarker([gs.latitudeDeg, gs.longitudeDeg], {
        radius: 5,
        color: "#0b3954",
        fillColor: "#ffffff",
        fillOpacity: 1,
        weight: 2,
      })
        .bindTooltip(`${gs.name} (station)`, { permanent: true, direction: "right", className: "gs-label" })
        .addTo(group);
    }
  }, [stations]);

  useEffect(() => {
    const group = layers.current?.track;
    if (!group) return;
    group.clearLayers();
    if (track === null) return;
    for (const segment of track.segments) {
      L.polyline(segment, { color: "#b33c00", weight: 2, interactive: false }).addTo(group);
    }
  }, [track]);

  useEffect(() => {
    const group = layers.current?.sats;
    if (!group) return;
    const seen = new Set<string>();
    for (const sat of fleet) {
      let lat = sat.latDeg;
      let lon = sat.lonDeg;
      if ((lat === null || lon === null) && track !== null && track.satellite === sat.name) {
        lat = track.now.latDeg;
        lon = track.now.lonDeg;
      }
      if (lat === null || lon === null) continue;
      seen.add(sat.name);
      const isSelected = sat.name === selected;
      const style = {
        radius: isSelected ? 7 : 5,
        color: "#7a1f00",
        fillColor: isSelected ? "#ff7a33" : "#f2b38f",
        fillOpacity: 1,
        weight: 2,
      };
      const existing = markers.current.get(sat.name);
      if (existing) {
        existing.setLatLng([lat, lon]);
        existing.setStyle(style);
        existing.setRadius(style.radius);
      } else {
        const marker = L.circleMarker([lat, lon], style)
          .bindTooltip(sat.name, { permanent: fleet.length <= 12, direction: "top", className: "sat-label" })
          .addTo(group);
        markers.current.set(sat.name, marker);
      }
    }
    for (const [name, marker] of markers.current) {
      if (!seen.has(name)) {
        marker.remove();
        markers.current.delete(name);
      }
    }
  }, [fleet, track, selected]);

  return (
    <div
      ref={container}
      className="world-map"
      role="region"
      aria-label={`World map: ${fleet.length} satellites, ${stations.length} ground stations${
        track ? `, ground track of ${track.satellite}` : ""
      }`}
      data-testid="world-map"
    />
  );
}
