import { StorageDetail } from "@/components/pages/storage";

export default function StorageDetailPage() {
  return <StorageDetail />;
}
