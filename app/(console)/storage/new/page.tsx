import { StorageWizard } from "@/components/pages/storage-wizard";

export default function NewStoragePage() {
  return <StorageWizard />;
}
