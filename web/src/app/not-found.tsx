import Link from "next/link";

export default function NotFound() {
  return (
    <section>
      <h1>Not found</h1>
      <p>
        There is no page here. <Link href="/">Explore datasets</Link>
      </p>
    </section>
  );
}
