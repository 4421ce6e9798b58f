/**
 * The dashboard's ink view: it renders the lines ./screen.ts lays out for the terminal's size, one
 * ink Text per line (truncated, never wrapped), and nothing else.
 */
import { Box, Text } from "ink";
import type { DashboardModel } from "./model.js";
import { type Line, type ScreenOptions, screen } from "./screen.js";

export function Lines({ lines, width }: { lines: readonly Line[]; width: number }) {
  return (
    <Box flexDirection="column" width={width}>
      {lines.map((line, i) => (
        // Lines have no identity beyond their place on the screen.
        // biome-ignore lint/suspicious/noArrayIndexKey: see above
        <Text key={i} wrap="truncate">
          {line.map((s, j) => (
            // biome-ignore lint/suspicious/noArrayIndexKey: segments are positions on the line too
            <Text key={j} color={s.color} bold={s.bold} dimColor={s.dim} inverse={s.inverse}>
              {s.text}
            </Text>
          ))}
        </Text>
      ))}
    </Box>
  );
}

/** The dashboard for a model in a terminal of `width` × `height` lines. */
export function Dashboard({ model, ...options }: { model: DashboardModel } & ScreenOptions) {
  return <Lines lines={screen(model, options)} width={options.width} />;
}
