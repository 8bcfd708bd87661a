// A satellite's live telemetry over the API's WebSocket into a TelemetryBuffer; the view is told
// at most every `renderMs` (a 1 Hz stream of many satellites must not re-render per frame).
import { useEffect, useRef, useState } from "react";
import type { TelemetryMessage } from "../../api/types";
import { TelemetryBuffer } from "./buffer";

export type StreamStatus = "connecting" | "open" | "closed";

/** `channels`: the numeric channels to keep (from the catalogue; a stable array, e.g. memoized). */
export function useTelemetryStream(url: string, channels: string[], renderMs = 1000) {
  const buffer = useRef<TelemetryBuffer | null>(null);
  if (buffer.current === null) buffer.current = new TelemetryBuffer(channels);
  const [version, setVersion] = useState(0);
  const [status, setStatus] = useState<StreamStatus>("connecting");

  useEffect(() => {
    const current = new TelemetryBuffer(channels);
    buffer.current = current;
    let socket: WebSocket | null = null;
    let timer: number | undefined;
    let retry: number | undefined;
    let stopped = false;
    const schedule = () => {
      if (timer === undefined) {
        timer = window.setTimeout(() => {
          timer = undefined;
          setVersion((v) => v + 1);
        }, renderMs);
      }
    };
    const connect = () => {
      setStatus("connecting");
      socket = new WebSocket(url);
      socket.onopen = () => setStatus("open");
      socket.onmessage = (event: MessageEvent<string>) => {
        try {
          current.push(JSON.parse(event.data) as TelemetryMessage);
          schedule();
        } catch {
          // a frame that is not a telemetry message is skipped
        }
      };
      socket.onclose = () => {
        setStatus("closed");
        if (!stopped) retry = window.setTimeout(connect, 2000);
      };
    };
    connect();
    return () => {
      stopped = true;
      window.clearTimeout(timer);
      window.clearTimeout(retry);
      socket?.close();
    };
  }, [url, channels, renderMs]);

  return { buffer: buffer.current, version, status };
}
