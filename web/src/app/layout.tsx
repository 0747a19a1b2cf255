import type { Metadata, Viewport } from "next";
import type { ReactNode } from "react";
import { ApiErrorBanner } from "@/components/ApiErrorBanner";
import { Header } from "@/components/Header";
import { Providers } from "@/components/Providers";
import "./globals.css";

export const metadata: Metadata = {
  title: "Datacoin",
  description: "Buy, sell and train on datasets, settled in DATACOIN.",
};

export const viewport: Viewport = { width: "device-width", initialScale: 1 };

export default function RootLayout({ children }: { children: ReactNode }) {
  return (
    <html lang="en">
      <body>
        <Providers>
          <Header />
          <ApiErrorBanner />
          <main className="main">{children}</main>
        </Providers>
      </body>
    </html>
  );
}
