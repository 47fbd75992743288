import { LunDetailPage } from "@/components/monitor/luns";

export default async function LunDetail({ params }: { params: Promise<{ key: string }> }) {
  const { key } = await params;
  return <LunDetailPage lunKey={decodeURIComponent(key)} />;
}
