// A satellite's live telemetry over the API's WebSocket into a TelemetryBuffer; the view is told
// at most every `renderMs` (a 1 Hz stream of many satellites must not re-render per frame).
import { useEffect, useRef, useState } from "react";
import type { TelemetryMessage } from "../../api/types";
import { TelemetryBuffer } from "./buffer";

export type StreamStatus = "connecting" | "open" | "closed";

export function useTelemetryStream(url: string, renderMs = 1000) {
  const buffer = useRef(new TelemetryBuffer());
  const [version, setVersion] = useState(0);
  const [status, setStatus] = useState<StreamStatus>("connecting");

  useEffect(() => {
    buffer.current = new TelemetryBuffer();
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
          buffer.current.push(JSON.parse(event.data) as TelemetryMessage);
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
  }, [url, renderMs]);

  return { buffer: buffer.current, version, status };
}
